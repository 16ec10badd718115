"""Helpers of the incident repair tests on the real stack: an ops worker process, plans made and
signed as `plan` makes them, orders brought to where a repair is needed, rows counted."""

from __future__ import annotations

import asyncio
import secrets
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime
from functools import partial

import pytest
from temporalio.client import Client

from activities.incidents import observe
from continuum.client import connect
from continuum.incidents.apply import start_repair
from continuum.incidents.plans import new_plan_id, sign_plan
from continuum.order_client import OrderClient
from continuum.stack import Stack
from continuum.supervisor import ManagedProcess, python_module
from domain.incidents.contract import Action, ItemOutcome, Plan, PlanItem, RepairProgress, Target
from domain.orders.models import OrderStatus
from store import Store
from store.incidents import IncidentAudit
from tests import samples
from tests.integration.conftest import set_faults

KEY = secrets.token_bytes(32)

ONE_OF_EACH = {"reservations": 1, "sales_orders": 1, "payments": 1, "shipments": 1, "invoices": 1}


def start_ops_worker(stack: Stack) -> ManagedProcess:
    proc = ManagedProcess(
        "ops",
        python_module("tests.integration.ops_worker"),
        log_path=stack.data_dir / "logs" / "ops.log",
        env=stack.client_env(),
    ).start()
    proc.wait_ready(lambda: "ops worker ready" in proc.tail(50), timeout=60)
    return proc


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


def erp_rows(stack: Stack, table: str, order_id: str) -> list[str]:
    with sqlite3.connect(stack.data_dir / "erp.db") as db:
        rows = db.execute(f"SELECT status FROM {table} WHERE order_id = ?", (order_id,))
        return [r[0] for r in rows.fetchall()]


AT_ONCE = {"reserve_stock", "create_sales_order", "upsert_deal"}


async def needs_attention(stack: Stack, orders: OrderClient, reference: str, fail_from: str) -> str:
    """An order whose undos fail in the ERP: its ERP answers 422 (a refusal, never stored under
    the idempotency key) from the moment the order reaches `fail_from` (a status or a step)."""
    set_faults(stack, "erp", latency_ms=700)
    order = samples.order(customer_id="C-101", reference=reference)
    try:
        await orders.start(order)

        # Stock, sales order and deal are written at once: a fault from one of them on starts
        # once all three are done (else the slow ERP's two would be refused mid-flight).
        wanted = AT_ONCE if fail_from in AT_ONCE else {fail_from}

        async def reached() -> bool:
            result = await orders.status(order.order_id)
            done = {s.step for s in result.steps}
            return result.status.value == fail_from or wanted <= done

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


# --- fixtures of the repair modules (imported by name there) ---------------------------------


@pytest.fixture(scope="module")
def ops_worker(stack: Stack) -> Iterator[ManagedProcess]:
    """The ops queue's worker as its own process (the repair job runs there)."""
    proc = start_ops_worker(stack)
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture
async def client(stack: Stack) -> AsyncIterator[Client]:
    yield await connect(stack.temporal_address, stack.data_converter())


@pytest.fixture
def audit(stack: Stack) -> IncidentAudit:
    return IncidentAudit(Store(f"sqlite:///{stack.data_dir / 'continuum.db'}"))
