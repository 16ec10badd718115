"""Each repair action on the real stack, held to its own success check: pause, new retry options
and unpause of a step that waits out an ERP outage; cancel with compensation; terminate; a reset
that may not go before an undo that ran; a reset of a process with nothing to run again; the sync
quarantine's re-drive."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from functools import partial

import httpx
from temporalio.client import Client

from activities.incidents import observe
from continuum.order_client import OrderClient
from continuum.stack import Stack
from continuum.supervisor import ManagedProcess
from domain.incidents.contract import Action, ItemOutcome
from domain.incidents.observed import Execution
from domain.orders.contract import workflow_id
from domain.orders.models import OrderStatus
from domain.sync.contract import WORKFLOW_ID as SYNC_ID
from store.incidents import IncidentAudit
from store.sync import SyncStore
from tests.integration.conftest import crm_deals, erp_counts, set_faults
from tests.integration.repair_helpers import (
    ONE_OF_EACH,
    apply,
    audit,
    client,
    erp_rows,
    finished,
    needs_attention,
    ops_worker,
    plan_of,
    retrying,
    start_delivering,
    target,
    until,
    until_status,
)

__all__ = ["audit", "client", "ops_worker"]  # fixtures, imported for pytest


async def test_pause_new_retry_options_and_unpause_of_a_step_waiting_out_an_outage(
    stack: Stack,
    ops_worker: ManagedProcess,
    orders: OrderClient,
    client: Client,
    audit: IncidentAudit,
) -> None:
    [oid] = await start_delivering(orders, 1, "C-104")
    wid = workflow_id(oid)
    set_faults(stack, "erp", outage_seconds=600, retry_after_seconds=1)
    try:
        await orders.deliver(oid, carrier="test-carrier")
        await until(f"{wid} to retry", partial(retrying, client, wid, "confirm_delivery"))
        for action, params, fixed in [
            (Action.PAUSE, {}, "confirm_delivery is paused"),
            (
                Action.RETRY_OPTIONS,
                {"maximum_interval": "10m", "maximum_attempts": "0"},
                "confirm_delivery has the new options",
            ),
            (Action.UNPAUSE, {}, "confirm_delivery runs again"),
        ]:
            plan = plan_of(action, [await target(client, wid, "confirm_delivery")], params=params)
            [result] = (await finished(client, await apply(client, plan, audit))).results
            assert result.outcome is ItemOutcome.FIXED, (action, result.detail)
            assert result.detail.startswith(fixed), result.detail
            [step] = (await observe.describe(client, wid)).pending_step("confirm_delivery")
            assert step.paused is (action is not Action.UNPAUSE)
        assert step.options and step.options.maximum_interval
        assert step.options.maximum_interval.total_seconds() == 600
    finally:
        set_faults(stack, "erp")
    await until_status(orders, oid, OrderStatus.COMPLETED)
    assert erp_counts(stack, oid) == ONE_OF_EACH


async def test_cancel_compensates_and_terminate_ends_the_run(
    stack: Stack,
    ops_worker: ManagedProcess,
    orders: OrderClient,
    client: Client,
    audit: IncidentAudit,
) -> None:
    cancelled, ended = await start_delivering(orders, 2, "C-105")
    plan = plan_of(Action.CANCEL, [await target(client, workflow_id(cancelled))])
    [result] = (await finished(client, await apply(client, plan, audit))).results
    assert (result.outcome, result.detail) == (
        ItemOutcome.FIXED,
        "it closed Cancelled (cancel requested: compensation runs)",
    )
    assert erp_rows(stack, "payments", cancelled) == ["refunded"]
    assert erp_rows(stack, "shipments", cancelled) == ["cancelled"]
    assert erp_rows(stack, "reservations", cancelled) == ["released"]
    [deal] = crm_deals(stack, cancelled)
    assert deal["dealstage"] == "closedlost"
    why = (await orders.status(cancelled)).reason or ""
    assert "cancelled by olga: incident plan" in why

    plan = plan_of(Action.TERMINATE, [await target(client, workflow_id(ended))])
    [result] = (await finished(client, await apply(client, plan, audit))).results
    assert result.outcome is ItemOutcome.FIXED, result.detail
    assert (await observe.describe(client, workflow_id(ended))).execution is Execution.TERMINATED


async def history_length(client: Client, wid: str) -> int:
    return len(await observe.history(client, wid, (await observe.describe(client, wid)).run_id))


async def test_a_reset_never_goes_before_an_undo_that_ran(
    stack: Stack,
    ops_worker: ManagedProcess,
    orders: OrderClient,
    client: Client,
    audit: IncidentAudit,
) -> None:
    # The payment is captured, then the ERP refuses everything: the shipment fails, the refund
    # fails, marking the deal lost (CRM) runs, cancelling and releasing fail.
    oid = await needs_attention(stack, orders, "tok_visa", "capture_payment")
    why = (await orders.status(oid)).reason or ""
    assert why.endswith("could not undo: refund payment, cancel sales order, release stock"), why

    plan = plan_of(Action.RESET, [await target(client, workflow_id(oid))])
    [result] = (await finished(client, await apply(client, plan, audit))).results

    # The refund lies before the undo that ran: the reset may not go there. It runs the two
    # undos after it again, and says honestly that the order still needs attention.
    assert result.outcome is ItemOutcome.NOT_FIXED, result.detail
    assert "runs cancel_sales_order, release_stock again" in result.detail
    assert "the new run is NeedsAttention" in result.detail
    assert erp_rows(stack, "payments", oid) == ["captured"]
    assert erp_rows(stack, "sales_orders", oid) == ["cancelled"]
    assert erp_rows(stack, "reservations", oid) == ["released"]
    assert erp_counts(stack, oid)["shipments"] == 0
    [deal] = crm_deals(stack, oid)
    assert deal["dealstage"] == "closedlost"
    # Reset once more: the refund failed before undos that ran, so no safe point is left.
    again = plan_of(Action.RESET, [await target(client, workflow_id(oid))])
    length = await history_length(client, workflow_id(oid))
    [refused] = (await finished(client, await apply(client, again, audit))).results
    assert refused.outcome is ItemOutcome.FAILED
    assert refused.detail == (
        "not reset: refund_payment failed before release_stock ran: a reset before it would"
        " forget release_stock"
    )
    assert await history_length(client, workflow_id(oid)) == length


async def test_a_reset_of_a_process_that_ended_cleanly_is_refused_and_changes_nothing(
    stack: Stack,
    ops_worker: ManagedProcess,
    orders: OrderClient,
    client: Client,
    audit: IncidentAudit,
) -> None:
    [oid] = await start_delivering(orders, 1, "C-100")
    await orders.cancel(oid, requested_by="ops")
    await until_status(orders, oid, OrderStatus.CANCELLED)
    wid = workflow_id(oid)
    # The status says Cancelled as the order starts to unwind; its history ends when it returns.
    await client.get_workflow_handle(wid).result()
    length = await history_length(client, wid)
    plan = plan_of(Action.RESET, [await target(client, wid)])
    [result] = (await finished(client, await apply(client, plan, audit))).results
    assert (result.outcome, result.detail) == (
        ItemOutcome.FAILED,
        "not reset: it ended Cancelled: nothing to run again",
    )
    assert await history_length(client, wid) == length


def sync(stack: Stack) -> None:
    env = {**os.environ, **stack.client_env()}
    ran = subprocess.run(
        [sys.executable, "-m", "starters", "sync", "run", "--wait"],
        capture_output=True,
        text=True,
        env=env,
        timeout=180,
    )
    assert ran.returncode == 0, ran.stderr


def erp_write(stack: Stack, sql: str, params: tuple[object, ...]) -> None:
    with sqlite3.connect(stack.data_dir / "erp.db", timeout=10) as db:
        db.execute(sql, params)


async def test_redrive_lands_the_quarantined_records_once_they_are_fixed(
    stack: Stack,
    ops_worker: ManagedProcess,
    client: Client,
    audit: IncidentAudit,
) -> None:
    token = stack.client_env()["ERP_ADMIN_TOKEN"]
    async with httpx.AsyncClient(timeout=60) as http:
        generated = await http.post(
            f"{stack.url('erp')}/admin/generate",
            json={"customers": 10, "orders": 0, "seed": 5},
            headers={"Authorization": f"Bearer {token}"},
        )
    generated.raise_for_status()
    with sqlite3.connect(stack.data_dir / "erp.db") as db:
        rows = db.execute("SELECT customer_id FROM customers ORDER BY id DESC LIMIT 2")
        bad = [r[0] for r in rows.fetchall()]
    for customer_id in bad:
        erp_write(stack, "UPDATE customers SET email = 'n/a' WHERE customer_id = ?", (customer_id,))
    sync(stack)
    quarantine = SyncStore(stack.data_dir / "continuum.db")
    assert quarantine.quarantine_size() == 2
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    for n, customer_id in enumerate(bad):
        erp_write(
            stack,
            "UPDATE customers SET email = ?, updated_at = ? WHERE customer_id = ?",
            (f"fixed{n}@example.com", now, customer_id),
        )

    plan = plan_of(Action.REDRIVE, [await target(client, SYNC_ID)])
    [result] = (await finished(client, await apply(client, plan, audit))).results
    assert result.outcome is ItemOutcome.FIXED, result.detail
    assert result.detail.startswith("2 resolved, 0 still bad"), result.detail
    assert quarantine.quarantine_size() == 0
    with sqlite3.connect(stack.data_dir / "crm.db") as db:
        contacts = db.execute(
            "SELECT properties FROM objects WHERE object_type = 'contacts' AND archived_at IS NULL"
        ).fetchall()
    emails = {p.get("customer_id"): p.get("email") for p in (json.loads(r[0]) for r in contacts)}
    assert [emails[c] for c in bad] == ["fixed0@example.com", "fixed1@example.com"]
