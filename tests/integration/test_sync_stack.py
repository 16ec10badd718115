"""The ERP→CRM sync on the real stack: dev server, reference ERP and CRM, worker processes.

Every assertion compares the ERP's and the CRM's own SQLite files: 10,000 orders become exactly
10,000 deals; a worker SIGKILLed mid-sync leaves no gap and no duplicate; a 429 storm slows the
sync but loses nothing; bad records end in the quarantine and land after a fix and a redrive;
drift found by reconciliation is repaired by the next run.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest
from temporalio.api.enums.v1 import EventType, PendingActivityState
from temporalio.client import Client, WorkflowHandle

from continuum.client import connect
from continuum.settings import ORDERS_TASK_QUEUE
from continuum.stack import Stack
from domain.sync.contract import WORKFLOW_ID, WORKFLOW_NAME, Message
from domain.sync.models import SyncInput, SyncProgress, SyncResult
from store.sync import SyncStore
from tests.integration.conftest import set_faults

CLI = [sys.executable, "-m", "starters"]


@pytest.fixture
async def client(stack: Stack) -> AsyncIterator[Client]:
    yield await connect(stack.temporal_address, stack.data_converter())


def cli(stack: Stack, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **stack.client_env(), "COLUMNS": "250"}
    return subprocess.run([*CLI, *args], capture_output=True, text=True, env=env, timeout=timeout)


def generate(stack: Stack, *, customers: int = 0, orders: int = 0) -> None:
    token = stack.client_env()["ERP_ADMIN_TOKEN"]
    answer = httpx.post(
        f"{stack.url('erp')}/admin/generate",
        json={"customers": customers, "orders": orders, "seed": 11},
        headers={"Authorization": f"Bearer {token}"},
        timeout=60,
    )
    answer.raise_for_status()


def erp_orders(stack: Stack) -> dict[str, Decimal]:
    with sqlite3.connect(stack.data_dir / "erp.db") as db:
        rows = db.execute("SELECT order_id, total FROM sales_orders").fetchall()
    return {order_id: Decimal(total) for order_id, total in rows}


def erp_write(stack: Stack, sql: str, params: tuple[object, ...]) -> None:
    """A change made in the ERP behind the API's back (an operator's SQL)."""
    with sqlite3.connect(stack.data_dir / "erp.db", timeout=10) as db:
        db.execute(sql, params)


def crm_objects(stack: Stack, object_type: str, key: str) -> list[dict[str, str]]:
    """Live CRM objects of a type that carry the ERP key, duplicates and all."""
    with sqlite3.connect(stack.data_dir / "crm.db") as db:
        rows = db.execute(
            "SELECT properties FROM objects WHERE object_type = ? AND archived_at IS NULL",
            (object_type,),
        ).fetchall()
    return [p for p in (json.loads(r[0]) for r in rows) if key in p]


def assert_deals_mirror_the_erp(stack: Stack) -> None:
    """Every ERP order is exactly one deal with its amount; no deal the ERP does not know."""
    orders = erp_orders(stack)
    deals = crm_objects(stack, "deals", "order_id")
    ids = [d["order_id"] for d in deals]
    assert len(ids) == len(set(ids)), "a deal is duplicated"
    missing, extra = sorted(set(orders) - set(ids)), sorted(set(ids) - set(orders))
    assert (missing, extra) == ([], []), f"missing: {missing[:5]}, extra: {extra[:5]}"
    wrong = [d["order_id"] for d in deals if Decimal(d["amount"]) != orders[d["order_id"]]]
    assert wrong == []


def tamper_with_the_crm(stack: Stack, *, gone: str, edited: str) -> None:
    """Someone deletes one deal in the CRM and edits another's amount by hand."""
    crm = {"Authorization": f"Bearer {stack.client_env()['CRM_API_TOKEN']}"}
    with httpx.Client(base_url=stack.url("crm"), headers=crm, timeout=10) as http:
        http.patch(
            f"/crm/v3/objects/deals/{edited}",
            params={"idProperty": "order_id"},
            json={"properties": {"amount": "0.01"}},
        ).raise_for_status()
        found = http.get(f"/crm/v3/objects/deals/{gone}", params={"idProperty": "order_id"})
        http.delete(f"/crm/v3/objects/deals/{found.json()['id']}").raise_for_status()


async def run_sync(client: Client, **options: object) -> SyncResult:
    result: SyncResult = await client.execute_workflow(
        WORKFLOW_NAME,
        SyncInput.model_validate(options),
        id=f"{WORKFLOW_ID}-{uuid.uuid4().hex[:6]}",
        task_queue=ORDERS_TASK_QUEUE,
        result_type=SyncResult,
    )
    return result


async def test_a_sync_of_10000_records_lands_exactly_10000_crm_objects(
    stack: Stack, client: Client
) -> None:
    generate(stack, orders=10_000)
    result = await run_sync(client)

    orders = result.totals.feeds["orders"]
    assert (orders.records, orders.upserted, orders.quarantined) == (10_000, {"deals": 10_000}, 0)
    assert len(crm_objects(stack, "deals", "order_id")) == 10_000
    assert_deals_mirror_the_erp(stack)
    # The six demo customers: six contacts, five companies (one has no company).
    assert result.totals.feeds["customers"].upserted == {"contacts": 6, "companies": 5}
    store = SyncStore(stack.data_dir / "continuum.db")
    assert store.last_synced_through("orders") == result.watermarks["orders"]
    assert store.quarantine_size() == 0


async def test_a_worker_killed_mid_sync_leaves_no_gap_and_no_duplicate(
    stack: Stack, client: Client
) -> None:
    generate(stack, orders=6_000)
    set_faults(stack, "erp", latency_ms=100)  # pages take long enough to be caught mid-way
    try:
        started = cli(stack, "sync", "run", "--page-size", "200")
        assert started.returncode == 0, started.stderr
        refused = cli(stack, "sync", "run")
        assert refused.returncode == 1
        assert "already running (workflow erp-crm-sync)" in refused.stderr

        handle = client.get_workflow_handle(WORKFLOW_ID, result_type=SyncResult)
        deadline = time.monotonic() + 90
        while (await handle.query(Message.PROGRESS, result_type=SyncProgress)).page < 8:
            assert time.monotonic() < deadline, "the sync made no progress"
            await asyncio.sleep(0.2)
        # Kill while a page runs on the worker, not in the gap between two pages.
        while not (running := await page_in_flight(handle)):
            assert time.monotonic() < deadline, "no page was ever seen running"
            await asyncio.sleep(0.05)
        run_id, activity_id = running
        stack.restart("worker", kill=True)  # SIGKILL: the page in flight is abandoned
        result = await asyncio.wait_for(handle.result(), timeout=240)
    finally:
        set_faults(stack, "erp")

    # The kill hit that page: it timed out on the dead worker and ran again.
    killed_run = client.get_workflow_handle(WORKFLOW_ID, run_id=run_id)
    assert await started_attempt(killed_run, activity_id) > 1

    # The 6,000 new orders, and the previous run's last order read again (inclusively).
    assert result.totals.feeds["orders"].records == 6_001
    assert result.totals.feeds["orders"].upserted == {"deals": 6_001}
    assert len(crm_objects(stack, "deals", "order_id")) == 16_000
    assert_deals_mirror_the_erp(stack)
    status = cli(stack, "sync", "status")
    assert status.returncode == 0, status.stderr
    assert "sync workflow erp-crm-sync: completed" in status.stdout
    assert "quarantine: 0 open · drift to repair: 0" in status.stdout


async def page_in_flight(handle: WorkflowHandle[Any, Any]) -> tuple[str, str] | None:
    """(run id, activity id) of an activity a worker is running now, if any."""
    described = await handle.describe()
    for pending in described.raw_description.pending_activities:
        if pending.state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED:
            return described.run_id, pending.activity_id
    return None


async def started_attempt(handle: WorkflowHandle[Any, Any], activity_id: str) -> int:
    """The attempt of the (last) start of `activity_id` in the run's history."""
    events = (await handle.fetch_history()).events
    [scheduled] = [
        e.event_id
        for e in events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        and e.activity_task_scheduled_event_attributes.activity_id == activity_id
    ]
    [attempt] = [
        e.activity_task_started_event_attributes.attempt
        for e in events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
        and e.activity_task_started_event_attributes.scheduled_event_id == scheduled
    ]
    return attempt


async def test_a_crm_429_storm_slows_the_sync_but_loses_nothing(
    stack: Stack, client: Client
) -> None:
    generate(stack, orders=2_000)
    set_faults(stack, "crm", error_rate=0.3, error_statuses=[429], retry_after_seconds=1, seed=3)
    try:
        result = await run_sync(client)
        stats = set_faults(stack, "crm")["stats"]
    finally:
        set_faults(stack, "crm")
    assert stats["errors"] > 0  # type: ignore[index]
    assert result.totals.feeds["orders"].upserted == {"deals": 2_001}
    assert_deals_mirror_the_erp(stack)


async def test_bad_records_end_in_the_quarantine_and_land_after_a_fix_and_a_redrive(
    stack: Stack, client: Client
) -> None:
    generate(stack, customers=50)
    with sqlite3.connect(stack.data_dir / "erp.db") as db:
        bad = [
            r[0] for r in db.execute("SELECT customer_id FROM customers ORDER BY id DESC LIMIT 3")
        ]
    for customer_id in bad:
        erp_write(
            stack, "UPDATE customers SET email = ? WHERE customer_id = ?", ("n/a", customer_id)
        )

    ran = cli(stack, "sync", "run", "--wait")
    assert ran.returncode == 0, ran.stderr
    store = SyncStore(stack.data_dir / "continuum.db")
    assert store.quarantine_size() == 3
    listed = cli(stack, "sync", "quarantine", "list")
    assert listed.returncode == 0
    for customer_id in bad:
        assert customer_id in listed.stdout
    assert "'n/a' is not an e-mail address" in listed.stdout
    contacts = {c["customer_id"]: c for c in crm_objects(stack, "contacts", "customer_id")}
    assert not set(bad) & set(contacts)
    companies = {c["customer_id"] for c in crm_objects(stack, "companies", "customer_id")}
    assert set(bad) <= companies  # their companies went through

    nothing = cli(stack, "sync", "quarantine", "redrive")
    assert nothing.returncode == 1 and "--id ID (repeatable) or --all" in nothing.stderr

    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    for n, customer_id in enumerate(bad):
        erp_write(
            stack,
            "UPDATE customers SET email = ?, updated_at = ? WHERE customer_id = ?",
            (f"fixed{n}@example.com", now, customer_id),
        )
    redriven = cli(stack, "sync", "quarantine", "redrive", "--all")
    assert redriven.returncode == 0, redriven.stderr
    assert "landed 3, still bad 0" in redriven.stdout
    assert store.quarantine_size() == 0
    contacts = {c["customer_id"]: c for c in crm_objects(stack, "contacts", "customer_id")}
    assert [contacts[c]["email"] for c in bad] == [f"fixed{n}@example.com" for n in range(3)]


async def test_drift_found_by_reconciliation_is_repaired_by_the_next_run(
    stack: Stack, client: Client
) -> None:
    generate(stack, orders=100)
    await run_sync(client)  # in step with the ERP first
    deals = sorted(crm_objects(stack, "deals", "order_id"), key=lambda d: d["order_id"])
    gone, edited = deals[10]["order_id"], deals[20]["order_id"]
    tamper_with_the_crm(stack, gone=gone, edited=edited)

    report = cli(stack, "sync", "reconcile")
    assert report.returncode == 0, report.stderr
    assert "drift: 2 — the next `continuum sync run` repairs it" in report.stdout
    assert SyncStore(stack.data_dir / "continuum.db").drift_size() == 2

    await run_sync(client)
    assert_deals_mirror_the_erp(stack)
    again = cli(stack, "sync", "reconcile")
    assert again.returncode == 0 and "drift: 0" in again.stdout
