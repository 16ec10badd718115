"""The incident repair job on the real stack (dev server, reference ERP and CRM, business worker)
with a real ops worker process: retry after an ERP outage, canary stop, reset of a NeedsAttention
order to a safe point, and a job that outlives its ops worker; rows counted in the systems' own
databases."""

from __future__ import annotations

import asyncio
import secrets
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime
from functools import partial

import pytest
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import ResetActivityRequest
from temporalio.client import Client, WorkflowExecutionStatus

from activities.incidents import observe
from continuum.client import connect
from continuum.incidents.apply import start_repair
from continuum.incidents.plans import new_plan_id, sign_plan
from continuum.order_client import OrderClient
from continuum.stack import Stack
from continuum.supervisor import ManagedProcess, python_module
from domain.incidents.contract import (
    Action,
    ItemOutcome,
    Plan,
    PlanItem,
    RepairProgress,
    Target,
)
from domain.orders.contract import workflow_id
from domain.orders.models import OrderStatus
from store import Store
from store.incidents import AuditEvent, IncidentAudit
from tests import samples
from tests.integration.conftest import crm_deals, erp_counts, set_faults

ONE_OF_EACH = {"reservations": 1, "sales_orders": 1, "payments": 1, "shipments": 1, "invoices": 1}
KEY = secrets.token_bytes(32)


@pytest.fixture(scope="module")
def ops_worker(stack: Stack) -> Iterator[ManagedProcess]:
    """The ops queue's worker as its own process (the repair job runs there)."""
    proc = start_ops_worker(stack)
    try:
        yield proc
    finally:
        proc.stop()


def start_ops_worker(stack: Stack) -> ManagedProcess:
    proc = ManagedProcess(
        "ops",
        python_module("tests.integration.ops_worker"),
        log_path=stack.data_dir / "logs" / "ops.log",
        env=stack.client_env(),
    ).start()
    proc.wait_ready(lambda: "ops worker ready" in proc.tail(50), timeout=60)
    return proc


@pytest.fixture
async def client(stack: Stack) -> AsyncIterator[Client]:
    yield await connect(stack.temporal_address, stack.data_converter())


@pytest.fixture
def audit(stack: Stack) -> IncidentAudit:
    return IncidentAudit(Store(f"sqlite:///{stack.data_dir / 'continuum.db'}"))


async def until(what: str, ready: Callable[[], Awaitable[bool]], within: float = 60) -> None:
    deadline = time.monotonic() + within
    while not await ready():
        assert time.monotonic() < deadline, f"waited {within:.0f}s for {what}"
        await asyncio.sleep(0.1)


async def status_is(orders: OrderClient, order_id: str, *wanted: OrderStatus) -> bool:
    return (await orders.status(order_id)).status in wanted


async def until_status(orders: OrderClient, order_id: str, wanted: OrderStatus) -> None:
    await until(f"{order_id} to be {wanted.value}", partial(status_is, orders, order_id, wanted))


async def target(client: Client, wid: str, step: str | None = None) -> Target:
    """The process as `find` would put it in a plan."""
    now = await observe.describe(client, wid)
    pending = now.pending_step(step)
    return Target(
        workflow_id=wid,
        run_id=now.run_id,
        workflow_type=now.workflow_type,
        status=now.status,
        state_since=now.state_since,
        step=step,
        attempt=pending[0].attempt if pending else None,
        last_failure=pending[0].last_failure if pending else None,
    )


def plan_of(action: Action, targets: list[Target], **fields: object) -> Plan:
    now = datetime.now(UTC)
    plan = Plan.model_validate(
        {
            "plan_id": f"{new_plan_id(now)}-{secrets.token_hex(2)}",
            "action": action,
            "where": "test",
            "query": "test",
            "items": [PlanItem(target=t, what=f"{action.value} {t.workflow_id}") for t in targets],
            "operator": "olga",
            "reason": "ERP outage INC-7",
            "ticket": "INC-7",
            "created_at": now,
            **fields,
        }
    )
    return sign_plan(plan, KEY)


async def apply(client: Client, plan: Plan, audit: IncidentAudit) -> str:
    return await start_repair(client, plan, "olga", audit, key=KEY)


async def finished(client: Client, job: str, within: float = 120) -> RepairProgress:
    handle = client.get_workflow_handle(job, result_type=RepairProgress)
    return await asyncio.wait_for(handle.result(), within)


def outcomes(progress: RepairProgress) -> dict[str, ItemOutcome]:
    return {r.workflow_id: r.outcome for r in progress.results}


async def retrying(client: Client, wid: str, step: str) -> bool:
    now = await observe.describe(client, wid)
    return any(p.attempt >= 2 and p.last_failure for p in now.pending_step(step))


async def start_delivering(orders: OrderClient, count: int, customer: str) -> list[str]:
    """Orders waiting for the carrier: every ERP write up to the shipment is done."""
    batch = [samples.order(customer_id=customer) for _ in range(count)]
    for order in batch:
        await orders.start(order)
    ids = [o.order_id for o in batch]
    for oid in ids:
        await until_status(orders, oid, OrderStatus.AWAITING_DELIVERY)
    return ids


async def test_retry_after_an_erp_outage_canary_then_the_rest_each_order_completes_once(
    stack: Stack,
    ops_worker: ManagedProcess,
    orders: OrderClient,
    client: Client,
    audit: IncidentAudit,
) -> None:
    ids = await start_delivering(orders, 4, "C-100")
    wids = [workflow_id(oid) for oid in ids]
    # The ERP goes down as the carrier reports: each confirmation fails and, as the ERP's
    # Retry-After asks, waits five minutes for its next attempt.
    set_faults(stack, "erp", outage_seconds=600, retry_after_seconds=300)
    try:
        for oid in ids:
            await orders.deliver(oid, carrier="test-carrier")
        for wid in wids:
            await until(f"{wid} to retry", partial(retrying, client, wid, "confirm_delivery"))

        # While the ERP is still down, the canary fails: the job stops, the rest is untouched.
        early = plan_of(
            Action.RETRY,
            [await target(client, w, "confirm_delivery") for w in wids[:2]],
            params={"check_within": "3s"},
        )
        stopped = await finished(client, await apply(client, early, audit))
    finally:
        set_faults(stack, "erp")
    assert stopped.canary_passed is False and stopped.stopped
    assert outcomes(stopped) == {wids[0]: ItemOutcome.NOT_FIXED, wids[1]: ItemOutcome.SKIPPED}
    assert "confirm_delivery still pending" in stopped.results[0].detail
    assert "not applied: the canary failed" in stopped.results[1].detail

    # The ERP is back; the orders would wait up to five minutes. Plan the retry of all four.
    targets = [await target(client, w, "confirm_delivery") for w in wids]
    next_try = {
        w: (await observe.describe(client, w)).pending_step("confirm_delivery")[0].next_retry
        for w in wids
    }
    plan = plan_of(Action.RETRY, targets, canary=1, rate_per_second=2.0)
    # Between plan and apply, someone else retries the last order, and it completes.
    execution = WorkflowExecution(workflow_id=wids[3], run_id=targets[3].run_id)
    await client.workflow_service.reset_activity(
        ResetActivityRequest(namespace="default", execution=execution, type="confirm_delivery")
    )
    await until(
        "the last order to complete", lambda: status_is(orders, ids[3], OrderStatus.COMPLETED)
    )

    progress = await finished(client, await apply(client, plan, audit))
    assert progress.canary_passed is True and progress.stopped is None
    assert outcomes(progress) == {
        wids[0]: ItemOutcome.FIXED,
        wids[1]: ItemOutcome.FIXED,
        wids[2]: ItemOutcome.FIXED,
        wids[3]: ItemOutcome.SKIPPED,
    }
    [why] = [r.detail for r in progress.results if r.workflow_id == wids[3]]
    assert why == "skipped: its status is now Completed (the plan saw AwaitingDelivery)"
    for oid, wid in zip(ids, wids, strict=True):
        result = await orders.status(oid)
        assert result.status is OrderStatus.COMPLETED, result.reason
        # Done now, not when the ERP's Retry-After would have let it try again.
        retry_at = next_try[wid]
        assert retry_at is not None and result.steps[-1].at < retry_at
        assert erp_counts(stack, oid) == ONE_OF_EACH
        [deal] = crm_deals(stack, oid)
        assert deal["dealstage"] == "closedwon"

    entries = audit.entries(plan_id=plan.plan_id)
    events = [e.event for e in entries]
    assert events[:3] == [AuditEvent.APPLY_REQUESTED, AuditEvent.STARTED, AuditEvent.ITEM]
    assert AuditEvent.CANARY in events and events[-1] == AuditEvent.FINISHED
    items = {e.workflow_id: e.outcome for e in entries if e.event == AuditEvent.ITEM}
    assert items == {w: o.value for w, o in outcomes(progress).items()}


def erp_rows(stack: Stack, table: str, order_id: str) -> list[str]:
    with sqlite3.connect(stack.data_dir / "erp.db") as db:
        rows = db.execute(f"SELECT status FROM {table} WHERE order_id = ?", (order_id,))
        return [r[0] for r in rows.fetchall()]


async def needs_attention(stack: Stack, orders: OrderClient, reference: str, fail_from: str) -> str:
    """An order whose undos fail in the ERP: its ERP answers 422 (a refusal, never stored under
    the idempotency key) from the moment the order reaches `fail_from` (a status or a step)."""
    set_faults(stack, "erp", latency_ms=700)
    order = samples.order(customer_id="C-101", reference=reference)
    try:
        await orders.start(order)

        async def reached() -> bool:
            result = await orders.status(order.order_id)
            return result.status.value == fail_from or fail_from in [s.step for s in result.steps]

        await until(f"{order.order_id} at {fail_from}", reached)
        set_faults(stack, "erp", latency_ms=700, error_rate=1.0, error_statuses=[422])
        if fail_from == "upsert_deal":
            set_faults(stack, "crm", error_rate=1.0, error_statuses=[422])
        await until(
            f"{order.order_id} to need attention",
            lambda: status_is(orders, order.order_id, OrderStatus.NEEDS_ATTENTION),
        )
    finally:
        set_faults(stack, "erp")
        set_faults(stack, "crm")
    return order.order_id


async def test_reset_of_a_needs_attention_order_runs_the_failed_undos_again_not_the_one_that_ran(
    stack: Stack,
    ops_worker: ManagedProcess,
    orders: OrderClient,
    client: Client,
    audit: IncidentAudit,
) -> None:
    # The card is declined; marking the deal lost (CRM) works, cancelling the sales order and
    # releasing the stock (ERP) are refused.
    oid = await needs_attention(stack, orders, "tok_declined", OrderStatus.COMPENSATING.value)
    before = await orders.status(oid)
    assert (before.reason or "").endswith("could not undo: cancel sales order, release stock"), (
        before
    )
    assert erp_rows(stack, "reservations", oid) == ["active"]
    assert erp_rows(stack, "sales_orders", oid) == ["open"]

    plan = plan_of(Action.RESET, [await target(client, workflow_id(oid))])
    progress = await finished(client, await apply(client, plan, audit))

    [result] = progress.results
    assert result.outcome is ItemOutcome.FIXED, result.detail
    assert "runs cancel_sales_order, release_stock again" in result.detail
    assert "keeps everything up to set_deal_stage" in result.detail
    after = await orders.status(oid)
    assert after.status is OrderStatus.COMPENSATED, after.reason
    # Nothing lost, nothing doubled: one reservation (released), one sales order (cancelled),
    # no payment, and one deal, lost.
    assert erp_counts(stack, oid) == {
        "reservations": 1,
        "sales_orders": 1,
        "payments": 0,
        "shipments": 0,
        "invoices": 0,
    }
    assert erp_rows(stack, "reservations", oid) == ["released"]
    assert erp_rows(stack, "sales_orders", oid) == ["cancelled"]
    [deal] = crm_deals(stack, oid)
    assert deal["dealstage"] == "closedlost"


async def test_reset_before_the_failed_payment_completes_the_order_with_nothing_twice(
    stack: Stack,
    ops_worker: ManagedProcess,
    orders: OrderClient,
    client: Client,
    audit: IncidentAudit,
) -> None:
    # From the deal on, the ERP and the CRM refuse everything: the capture fails, and so does
    # every undo. No undo ran, so the reset may go back to before the capture.
    oid = await needs_attention(stack, orders, "tok_visa", "upsert_deal")
    assert erp_counts(stack, oid)["payments"] == 0

    plan = plan_of(Action.RESET, [await target(client, workflow_id(oid))])
    progress = await finished(client, await apply(client, plan, audit))

    [result] = progress.results
    assert result.outcome is ItemOutcome.FIXED, result.detail
    assert "runs capture_payment" in result.detail and "up to upsert_deal" in result.detail
    assert "waits: AwaitingDelivery" in result.detail
    await orders.deliver(oid, carrier="test-carrier")
    await until_status(orders, oid, OrderStatus.COMPLETED)
    assert erp_counts(stack, oid) == ONE_OF_EACH
    assert erp_rows(stack, "payments", oid) == ["captured"]
    [deal] = crm_deals(stack, oid)
    assert deal["dealstage"] == "closedwon"


async def test_the_job_outlives_its_ops_worker(
    stack: Stack,
    ops_worker: ManagedProcess,
    orders: OrderClient,
    client: Client,
    audit: IncidentAudit,
) -> None:
    ids = await start_delivering(orders, 3, "C-102")
    wids = [workflow_id(oid) for oid in ids]
    targets = [await target(client, w) for w in wids]
    # One order every two seconds: the worker dies while the job waits between two of them.
    plan = plan_of(
        Action.SIGNAL,
        targets,
        params={"signal": "delivered", "carrier": "ops-desk"},
        rate_per_second=0.5,
    )
    job = await apply(client, plan, audit)

    async def some_done() -> bool:
        progress = await client.get_workflow_handle(job).query(
            "progress", result_type=RepairProgress
        )
        return bool(progress.done >= 1)

    await until("the canary's verdict", some_done)
    ops_worker.kill()
    described = await client.get_workflow_handle(job).describe()
    assert described.status is WorkflowExecutionStatus.RUNNING
    restarted = start_ops_worker(stack)
    try:
        progress = await finished(client, job)
    finally:
        restarted.stop()
    assert progress.canary_passed is True
    assert outcomes(progress) == dict.fromkeys(wids, ItemOutcome.FIXED)
    for oid in ids:
        await until_status(orders, oid, OrderStatus.COMPLETED)
        assert erp_counts(stack, oid) == ONE_OF_EACH
        assert len(crm_deals(stack, oid)) == 1
