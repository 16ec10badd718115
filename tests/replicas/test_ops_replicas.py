"""Two ops workers on two hosts (issue 17): the watchdog's scheduled runs and the alerts they
raise are shared between them, not done twice: with no business worker on the queue, the
"worker down" alert fires once and pages once across both hosts' alert logs, run after run."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from functools import partial

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from continuum import schedules
from continuum.client import connect
from continuum.order_client import OrderClient
from continuum.settings import ORDERS_TASK_QUEUE, Settings
from continuum.stack import Stack
from domain.alerts.contract import AlertState, AlertStatus, Message, fingerprint
from domain.alerts.contract import workflow_id as alert_workflow_id
from domain.incidents.contract import Action, ItemOutcome
from domain.orders.contract import workflow_id
from domain.orders.models import OrderStatus
from store import Store
from store.incidents import AuditEvent, IncidentAudit
from tests.integration.conftest import crm_deals, erp_counts, set_faults
from tests.integration.repair_helpers import (
    ONE_OF_EACH,
    apply,
    finished,
    outcomes,
    plan_of,
    retrying,
    start_delivering,
    target,
    until,
)
from tests.replicas.conftest import Host

pytestmark = pytest.mark.integration

EVERY_SECONDS = 2
RULES = """
[receivers.log]
kind = "log"
target = "alerts.log"

[routes.critical]
[[routes.critical.levels]]
receivers = ["log"]
people = ["olga"]

[[rules]]
name = "business-worker-down"
kind = "no-worker"
severity = "critical"
task_queue = "continuum-orders"
no_poller_for = "5s"
clear_after = "0s"
runbook = "type=order running"
"""
DOWN = alert_workflow_id(fingerprint("business-worker-down", "task-queue continuum-orders"))


@pytest.fixture
async def client(shared: Stack) -> AsyncIterator[Client]:
    yield await connect(shared.temporal_address, shared.data_converter())


async def eventually(what: str, ready: Callable[[], Awaitable[bool]], within: float) -> None:
    deadline = time.monotonic() + within
    while not await ready():
        assert time.monotonic() < deadline, f"not within {within:.0f} s: {what}"
        await asyncio.sleep(0.3)


def pages(*hosts: Host) -> list[dict[str, object]]:
    """Every page written by either host's log receiver."""
    found = []
    for one in hosts:
        log = one.home / "alerts.log"
        if log.exists():
            found += [json.loads(x) for x in log.read_text().splitlines() if x.strip()]
    return found


async def test_two_ops_workers_raise_and_page_an_alert_once(
    hosts: tuple[Host, Host], client: Client
) -> None:
    a, b = hosts
    for one in hosts:
        rules = one.home / "watchdog.toml"  # each host its own copy of the same rules
        rules.write_text(RULES)
        one.ops_worker(WATCHDOG_CONFIG_FILE=str(rules), WATCHDOG_EVERY_SECONDS=str(EVERY_SECONDS))
    await schedules.apply(
        client, [schedules.watchdog_schedule(Settings(WATCHDOG_EVERY_SECONDS=EVERY_SECONDS))]
    )
    schedule = client.get_schedule_handle(schedules.WATCHDOG_SCHEDULE)

    async def state() -> AlertState | None:
        try:
            found: AlertState = await client.get_workflow_handle(DOWN).query(
                Message.STATE, result_type=AlertState
            )
        except Exception:  # not raised yet
            return None
        return found

    async def paged() -> bool:
        now = await state()
        return now is not None and now.status is AlertStatus.FIRING and bool(pages(a, b))

    try:
        await eventually("the worker-down page", paged, within=60)
        runs_then = (await schedule.describe()).info.num_actions

        # Six more scheduled runs, each seeing the condition again on one of the two hosts.
        async def six_more() -> bool:
            return (await schedule.describe()).info.num_actions >= runs_then + 6

        await eventually("six more watchdog runs", six_more, within=60)
        told = [p for p in pages(a, b) if p["alert_id"] == DOWN]
        assert len(told) == 1, told
        # One Alert workflow, started once, however many runs and hosts observed it.
        history = await client.get_workflow_handle(DOWN).fetch_history()
        started = [
            e
            for e in history.events
            if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED
        ]
        assert len(started) == 1
        # The runs were shared: both hosts' ops workers ran watchdog work.
        ran: set[str] = set()
        async for run in client.list_workflows("WorkflowType = 'Watchdog'"):
            events = (
                await client.get_workflow_handle(run.id, run_id=run.run_id).fetch_history()
            ).events
            ran |= {
                e.activity_task_started_event_attributes.identity
                for e in events
                if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
            }
        print(f"\nwatchdog activities ran on: {sorted(ran)}")
        assert ran <= {a.identity("ops-worker"), b.identity("ops-worker")}
    finally:
        await schedule.delete()


async def test_a_repair_job_with_two_ops_workers_fixes_each_order_once(
    shared: Stack, hosts: tuple[Host, Host], client: Client, database_url: str
) -> None:
    a = hosts[0]
    a.worker()
    for one in hosts:
        rules = one.home / "watchdog.toml"
        rules.write_text(RULES)
        one.ops_worker(WATCHDOG_CONFIG_FILE=str(rules))
    orders = OrderClient(client, ORDERS_TASK_QUEUE)
    ids = await start_delivering(orders, 6, "C-104")
    wids = [workflow_id(oid) for oid in ids]
    # The ERP goes down as the carrier reports: each confirmation waits five minutes to retry.
    set_faults(shared, "erp", outage_seconds=600, retry_after_seconds=300)
    try:
        for oid in ids:
            await orders.deliver(oid, carrier="test-carrier")
        for wid in wids:
            await until(f"{wid} to retry", partial(retrying, client, wid, "confirm_delivery"))
    finally:
        set_faults(shared, "erp")
    # The ERP is back: retry all six now, through a job on the ops queue (two workers poll it).
    audit = IncidentAudit(Store(database_url))
    targets = [await target(client, w, "confirm_delivery") for w in wids]
    plan = plan_of(Action.RETRY, targets, canary=1, rate_per_second=5.0)
    progress = await finished(client, await apply(client, plan, audit))

    assert progress.canary_passed is True and progress.stopped is None
    assert outcomes(progress) == dict.fromkeys(wids, ItemOutcome.FIXED)
    for oid in ids:
        assert (await orders.status(oid)).status is OrderStatus.COMPLETED
        assert erp_counts(shared, oid) == ONE_OF_EACH
        assert len(crm_deals(shared, oid)) == 1
    # One audit row per order in the shared store, written once whichever host ran the item.
    items = [
        e.workflow_id for e in audit.entries(plan_id=plan.plan_id) if e.event == AuditEvent.ITEM
    ]
    assert sorted(str(i) for i in items) == sorted(wids)
