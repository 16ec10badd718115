"""An order's business events (behind the `business-events` patch): which, in what order, with
what data, handed to the order's publisher once each."""

from __future__ import annotations

import asyncio
import json

import pytest
from temporalio.client import WorkflowFailureError

from continuum.approvals.client import ApprovalClient, UnknownApproval
from domain.approvals.models import ApprovalDecision, Verdict
from domain.errors import BusinessRuleError
from domain.events.models import BusinessEvent
from domain.events.orders import SOURCE, TYPES, RejectionCause
from domain.orders.contract import workflow_id
from domain.orders.lifecycle import CancelRequest, DeliveryNotice
from domain.orders.models import OrderStatus
from tests import samples
from tests.workflows.conftest import Harness
from tests.workflows.event_support import handed_over, publishing
from tests.workflows.helpers import start, wait_status
from workflows.orders.order_to_cash import OrderToCash

HAPPY = ["placed", "paid", "shipped", "delivered", "invoiced", "completed"]


def _types(events: list[BusinessEvent]) -> list[str]:
    return [e.type.removeprefix("order.").removesuffix(".v1") for e in events]


async def test_a_completed_order_tells_each_step_once_in_order_with_business_data_only(
    harness: Harness,
) -> None:
    order = samples.order()
    process = workflow_id(order.order_id)
    client = harness.env.client
    async with publishing(harness):
        handle = await start(client, harness.task_queue, order)
        await wait_status(handle, OrderStatus.AWAITING_DELIVERY)
        await handle.signal(OrderToCash.delivered, DeliveryNotice(order_id=order.order_id))
        result = await handle.result()
        events = await handed_over(client, process, len(HAPPY))

    assert result.status is OrderStatus.COMPLETED
    assert _types(events) == HAPPY
    # Ids from the workflow id and the sequence: the same on a retry, a replay or a reset.
    assert [e.id for e in events] == [f"{process}/{n}" for n in range(1, len(HAPPY) + 1)]
    assert [e.sequence for e in events] == list(range(1, len(HAPPY) + 1))
    assert {(e.source, e.subject, e.process_id) for e in events} == {
        (SOURCE, order.order_id, process)
    }
    assert [e.time for e in events] == sorted(e.time for e in events)
    for event in events:
        TYPES[event.type].model_validate(event.data)  # each type's data model, exactly
        text = json.dumps(event.data)
        for personal in (order.customer.name, order.customer.email, order.shipping_address.street):
            assert personal not in text, (event.type, personal)
    paid, completed = events[1].data, events[-1].data
    assert (paid["payment_id"], paid["amount"]) == (result.payment_id, str(order.total))
    assert completed["invoice_id"] == result.invoice_id
    assert completed["customer_id"] == order.customer.customer_id


@pytest.mark.parametrize(
    ("failing", "expected"),
    [
        ("check_stock", ["placed", "rejected"]),
        ("create_shipment", ["placed", "paid", "compensated"]),
    ],
)
async def test_an_order_that_stops_ends_its_events_with_why(
    harness: Harness, failing: str, expected: list[str]
) -> None:
    harness.erp.fail[failing] = BusinessRuleError("erp", "Refused", f"{failing} refused")
    order = samples.order()
    process = workflow_id(order.order_id)
    client = harness.env.client
    async with publishing(harness):
        result = await (await start(client, harness.task_queue, order)).result()
        events = await handed_over(client, process, len(expected))
    assert _types(events) == expected
    last = events[-1].data
    assert last["failed_step"] == failing
    if failing == "check_stock":
        assert result.status is OrderStatus.REJECTED
        assert last["cause"] == RejectionCause.STEP_REFUSED
    else:
        assert result.status is OrderStatus.COMPENSATED
        assert last["undone"] == [c.step for c in result.compensated]
        assert "refund payment" in last["undone"]


async def test_an_order_short_of_stock_says_which_skus(harness: Harness) -> None:
    harness.erp.stock = 0
    order = samples.order()
    process = workflow_id(order.order_id)
    client = harness.env.client
    async with publishing(harness):
        await (await start(client, harness.task_queue, order)).result()
        events = await handed_over(client, process, 2)
    assert _types(events) == ["placed", "rejected"]
    assert events[-1].data["cause"] == RejectionCause.INSUFFICIENT_STOCK
    assert events[-1].data["skus"] == [line.sku for line in order.lines]


async def test_an_approved_order_cancelled_while_shipped_tells_approval_and_cancellation(
    harness: Harness,
) -> None:
    order = samples.order(unit_price="6000.00", quantity=1)  # above the approval threshold
    process = workflow_id(order.order_id)
    client = harness.env.client
    approvals = ApprovalClient(client)
    async with publishing(harness):
        handle = await start(client, harness.task_queue, order)
        await wait_status(handle, OrderStatus.AWAITING_APPROVAL)
        for _ in range(300):  # the order starts its approval just after showing it
            try:
                await approvals.state(process)
                break
            except UnknownApproval:
                await asyncio.sleep(0.05)
        await approvals.decide(
            process, ApprovalDecision(approver="alice", verdict=Verdict.APPROVED)
        )
        await wait_status(handle, OrderStatus.AWAITING_DELIVERY)
        cancel = CancelRequest(order_id=order.order_id, requested_by="ops", reason="called")
        await handle.execute_update(OrderToCash.cancel, cancel)
        result = await handle.result()
        events = await handed_over(client, process, 5)
    assert result.status is OrderStatus.CANCELLED
    assert _types(events) == ["placed", "approved", "paid", "shipped", "cancelled"]
    assert events[1].data == {
        "order_id": order.order_id,
        "customer_id": order.customer.customer_id,
        "total": "6000.00",
        "currency": order.currency,
    }
    assert events[-1].data["undone"] == [c.step for c in result.compensated]
    assert "alice" not in json.dumps([e.data for e in events])  # who decided stays inside


async def test_an_invalid_order_is_told_placed_then_rejected_before_it_fails(
    harness: Harness,
) -> None:
    order = samples.order(quantity=0)
    process = workflow_id(order.order_id)
    client = harness.env.client
    async with publishing(harness):
        handle = await start(client, harness.task_queue, order)
        with pytest.raises(WorkflowFailureError):
            await handle.result()
        events = await handed_over(client, process, 2)
    assert _types(events) == ["placed", "rejected"]
    assert events[-1].data["cause"] == RejectionCause.INVALID
