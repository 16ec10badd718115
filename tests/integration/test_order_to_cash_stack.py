"""Order-to-cash on the real stack: outages, a killed worker, bad input; nothing lost or doubled."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType, PendingActivityState
from temporalio.client import WorkflowHandle

from continuum.order_client import OrderClient, OrderError
from continuum.stack import Stack
from domain.orders.models import OrderResult, OrderStatus
from starters.carrier import settle
from tests import samples
from tests.integration.conftest import (
    crm_deals,
    erp_counts,
    idempotency_keys,
    set_faults,
)

ONE_OF_EACH = {"reservations": 1, "sales_orders": 1, "payments": 1, "shipments": 1, "invoices": 1}


async def drive_to_end(
    orders: OrderClient, ids: list[str], within: float = 120
) -> list[OrderResult]:
    """Plays the carrier (the demo's and the drill's) until every order has settled."""
    carrier = await settle(orders, ids, within=within, carrier="test-carrier", interval=0.2)
    if left := carrier.unsettled(ids):
        raise AssertionError(f"not finished: {[carrier.standings.get(i) or i for i in left]}")
    return [await orders.status(oid) for oid in ids]


async def wait_for(orders: OrderClient, order_id: str, step: str, within: float = 60) -> None:
    deadline = time.monotonic() + within
    while step not in [s.step for s in (await orders.status(order_id)).steps]:
        if time.monotonic() > deadline:
            raise AssertionError(f"{order_id} never did {step}")
        await asyncio.sleep(0.1)


async def test_every_order_finishes_after_an_erp_outage(stack: Stack, orders: OrderClient) -> None:
    batch = [samples.order(customer_id="C-100") for _ in range(8)]
    set_faults(stack, "erp", outage_seconds=6, retry_after_seconds=1)
    try:
        for order in batch:
            await orders.start(order)
        results = await drive_to_end(orders, [o.order_id for o in batch])
        stats = set_faults(stack, "erp")["stats"]
    finally:
        set_faults(stack, "erp")
    assert stats["outage_rejections"] > 0  # type: ignore[index]
    assert [r.status for r in results] == [OrderStatus.COMPLETED] * len(batch)
    for order in batch:
        assert erp_counts(stack, order.order_id) == ONE_OF_EACH
        deals = crm_deals(stack, order.order_id)
        assert len(deals) == 1 and deals[0]["dealstage"] == "closedwon"


async def test_worker_killed_mid_order_finishes_with_nothing_twice(
    stack: Stack, orders: OrderClient
) -> None:
    order = samples.order(customer_id="C-101")
    # Each ERP call takes 3 s, so that the payment's capture is seen running on the worker.
    set_faults(stack, "erp", latency_ms=3000)
    try:
        await orders.start(order)
        await wait_running(orders.handle(order.order_id), "capture_payment")
        stack.processes["worker"].kill()  # SIGKILL: no chance to finish anything
        set_faults(stack, "erp")
        stack.start_worker()
        results = await drive_to_end(orders, [order.order_id])
    finally:
        set_faults(stack, "erp")
    assert results[0].status is OrderStatus.COMPLETED, results[0].reason
    assert erp_counts(stack, order.order_id) == ONE_OF_EACH
    assert len(crm_deals(stack, order.order_id)) == 1
    # The kill hit the capture in flight: it timed out on the dead worker and ran again, once.
    [capture] = [
        s for s in await starts(orders.handle(order.order_id)) if s.name == "capture_payment"
    ]
    assert capture.attempt > 1 and "timeout" in capture.last_failure.lower(), capture


async def wait_running(handle: WorkflowHandle[Any, Any], activity: str) -> None:
    """Until a worker has started `activity` for the workflow (Temporal's pending activities)."""
    deadline = time.monotonic() + 60
    while True:
        described = await handle.describe()
        if any(
            p.activity_type.name == activity
            and p.state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED
            for p in described.raw_description.pending_activities
        ):
            return
        assert time.monotonic() < deadline, f"{handle.id} never ran {activity}"
        await asyncio.sleep(0.05)


async def test_invalid_order_fails_fast_and_writes_nothing(
    stack: Stack, orders: OrderClient
) -> None:
    order = samples.order(currency="ZZZ", quantity=-1)
    await orders.start(order)
    with pytest.raises(OrderError) as failed:
        await orders.result(order.order_id)
    message = str(failed.value)
    assert "currency" in message and "lines[0].quantity" in message
    assert erp_counts(stack, order.order_id) == dict.fromkeys(ONE_OF_EACH, 0)
    assert idempotency_keys(stack, order.order_id) == 0
    assert crm_deals(stack, order.order_id) == []
    assert (await orders.status(order.order_id)).status is OrderStatus.INVALID


async def test_declined_payment_is_compensated_in_the_real_erp_and_crm(
    stack: Stack, orders: OrderClient
) -> None:
    order = samples.order(reference="tok_declined")
    await orders.start(order)
    result = await orders.result(order.order_id)
    assert result.status is OrderStatus.COMPENSATED
    assert "PaymentDeclined" in (result.reason or "") or "declined" in (result.reason or "")
    assert [c.step for c in result.compensated] == [
        "mark deal lost",
        "cancel sales order",
        "release stock",
    ]
    counts = erp_counts(stack, order.order_id)
    assert counts["payments"] == 0 and counts["sales_orders"] == 1
    assert crm_deals(stack, order.order_id)[0]["dealstage"] == "closedlost"


async def test_same_order_id_is_refused_the_second_time(stack: Stack, orders: OrderClient) -> None:
    order = samples.order()
    await orders.start(order)
    with pytest.raises(OrderError, match=f"order {order.order_id} already exists"):
        await orders.start(order)
    await drive_to_end(orders, [order.order_id])
    with pytest.raises(OrderError, match=f"order {order.order_id} already exists"):
        await orders.start(order)


async def test_sigterm_drains_the_inflight_step_and_exits_zero(
    stack: Stack, orders: OrderClient
) -> None:
    order = samples.order(customer_id="C-104")
    worker = stack.processes["worker"]
    old_pid = worker.pid
    set_faults(stack, "erp", latency_ms=1500)
    try:
        await orders.start(order)
        await wait_for(orders, order.order_id, "reserve_stock")
        # create_sales_order is now in flight, held 1.5 s by the ERP's latency.
        code = worker.stop(timeout=30)
        log = worker.tail(200)
        stack.start_worker()
        results = await drive_to_end(orders, [order.order_id])
    finally:
        set_faults(stack, "erp")
    assert code == 0 and not worker.forced
    assert "stopping: draining in-flight activities" in log
    # What the worker wrote from SIGTERM on: a clean drain, no crash.
    shutdown = log.split("stopping: draining in-flight activities", 1)[1]
    assert "worker stopped" in shutdown and "Traceback" not in shutdown
    assert results[0].status is OrderStatus.COMPLETED
    assert erp_counts(stack, order.order_id) == ONE_OF_EACH
    # Drained, not abandoned: the step in flight when SIGTERM came completed on its first
    # attempt, on the worker that was stopping.
    [sales_order] = [
        s for s in await starts(orders.handle(order.order_id)) if s.name == "create_sales_order"
    ]
    assert (sales_order.attempt, sales_order.worker_pid) == (1, old_pid)


@dataclass(frozen=True)
class Start:
    name: str
    attempt: int
    worker_pid: int
    last_failure: str


async def starts(handle: WorkflowHandle[Any, Any]) -> list[Start]:
    """Each activity's (last) start in the workflow's history: attempt, worker, previous failure."""
    history = await handle.fetch_history()
    names = {
        e.event_id: e.activity_task_scheduled_event_attributes.activity_type.name
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    }
    found = []
    for e in history.events:
        if e.event_type != EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            continue
        started = e.activity_task_started_event_attributes
        pid = int(started.identity.split("@", 1)[0])  # the SDK's identity: pid@host
        failure = started.last_failure.message if started.HasField("last_failure") else ""
        found.append(Start(names[started.scheduled_event_id], started.attempt, pid, failure))
    return found
