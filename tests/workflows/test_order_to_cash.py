"""Order-to-cash on the time-skipping server: paths, deadlines, compensation, cancellation."""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from temporalio.client import WorkflowFailureError, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError

from continuum import search_attributes as sa
from continuum.approvals.client import ApprovalClient, ApprovalError, UnknownApproval
from domain.approvals.legacy_gate import GateDecision
from domain.approvals.models import ApprovalDecision, ApprovalState, Verdict
from domain.crm import DealStage
from domain.erp import SalesOrderStatus, ShipmentStatus
from domain.errors import BusinessRuleError, InvalidRequestError
from domain.orders.lifecycle import CancelRequest, DeliveryNotice, EventNotice
from domain.orders.models import OrderResult, OrderStatus
from tests import samples
from tests.waits import until
from tests.workflows.conftest import Harness
from tests.workflows.helpers import start, wait_status
from workflows.orders.messages import MAX_EVENTS
from workflows.orders.order_to_cash import OrderToCash

BIG = "6000.00"  # above the default approval threshold of 5000


async def test_auto_approved_order_completes_once_delivered(harness: Harness) -> None:
    order = samples.order()
    async with harness.worker():
        handle = await start(harness.env.client, harness.task_queue, order)
        waiting = await wait_status(handle, OrderStatus.AWAITING_DELIVERY)
        steps = [s.step for s in waiting.steps]
        # The three independent writes run at once: they are recorded as they return.
        assert set(steps[:3]) == {"reserve_stock", "create_sales_order", "upsert_deal"}
        assert steps[3:] == ["capture_payment", "create_shipment"]
        await handle.signal(
            OrderToCash.delivered, DeliveryNotice(order_id=order.order_id, carrier="DHL")
        )
        result = await handle.result()

    assert result.status is OrderStatus.COMPLETED
    assert result.compensated == []
    erp = harness.erp
    assert {k: len(v) for k, v in erp.records.items()} == {
        "reservation": 1,
        "sales_order": 1,
        "payment": 1,
        "shipment": 1,
        "invoice": 1,
    }
    assert erp.records["shipment"][f"S-{order.order_id}"].status is ShipmentStatus.DELIVERED
    assert harness.crm.deals[order.order_id].properties["dealstage"] == DealStage.CLOSED_WON
    assert result.steps[-1].step == "upsert_deal" and result.invoice_id == f"I-{order.order_id}"


async def test_invalid_order_fails_fast_naming_the_field_and_writes_nothing(
    harness: Harness,
) -> None:
    order = samples.order(quantity=0, currency="XXX")
    async with harness.worker():
        handle = await start(harness.env.client, harness.task_queue, order)
        with pytest.raises(WorkflowFailureError) as failure:
            await handle.result()
    cause = failure.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == "InvalidOrder"
    assert cause.non_retryable
    assert "lines[0].quantity" in cause.message and "currency" in cause.message
    assert sum(harness.erp.calls.values()) == 0 and sum(harness.crm.calls.values()) == 0


async def test_malformed_input_fails_the_workflow_instead_of_getting_stuck(
    harness: Harness,
) -> None:
    good = samples.order().model_dump(mode="json")
    good["lines"][0]["quantity"] = "lots"
    async with harness.worker():
        handle = await harness.env.client.start_workflow(
            "OrderToCash", {"order": good}, id="order-malformed", task_queue=harness.task_queue
        )
        with pytest.raises(WorkflowFailureError) as failure:
            await handle.result()
    assert "quantity" in str(failure.value.cause)
    assert sum(harness.erp.calls.values()) == 0


async def test_large_order_waits_for_approval_and_validates_decisions(harness: Harness) -> None:
    order = samples.order(unit_price=BIG, quantity=1)
    approvals = ApprovalClient(harness.env.client)
    subject = f"order-{order.order_id}"
    async with harness.worker():
        handle = await start(harness.env.client, harness.task_queue, order)
        state = await wait_status(handle, OrderStatus.AWAITING_APPROVAL)
        assert "approval threshold" in (state.reason or "")
        assert harness.erp.calls["reserve_stock"] == 0

        waiting = await _approval_state(approvals, subject)
        assert waiting.pending_role == "sales_manager" and waiting.requester == "C-100"
        refusals = {
            "approver must not be empty": " ",
            "unknown approver 'maria'": "maria",
            "bob is not authorised to decide level 1": "bob",
        }
        for message, who in refusals.items():
            with pytest.raises(ApprovalError) as refused:
                await approvals.decide(subject, _yes(who))
            assert message in str(refused.value)
        # The order's own single-level Updates are for orders started before; they say where.
        with pytest.raises(WorkflowUpdateFailedError) as old_way:
            await handle.execute_update(
                OrderToCash.approve, GateDecision(order_id=order.order_id, approver="alice")
            )
        assert f"decided in workflow approval-order-{order.order_id}" in str(old_way.value.cause)

        decided = await approvals.decide(subject, _yes("alice", comment="known customer"))
        assert decided.verdict == "approved" and decided.decided_by == "alice"
        await wait_status(handle, OrderStatus.AWAITING_DELIVERY)
        with pytest.raises(ApprovalError) as twice:
            await approvals.decide(subject, _yes("dave"))
        assert str(twice.value) == f"already decided: {subject} is approved by alice"

        await handle.signal(OrderToCash.delivered, DeliveryNotice(order_id=order.order_id))
        result = await handle.result()
    assert result.status is OrderStatus.COMPLETED
    assert ("approved", "by alice") in [(s.step, s.detail) for s in result.steps]
    assert result.approval is not None and result.approval.decided_by == "alice"
    assert [e.action for e in result.approval.audit] == ["requested", "approved"]
    assert result.approval.audit[-1].comment == "known customer"


async def test_rejection_ends_the_order_before_any_write(harness: Harness) -> None:
    order = samples.order(unit_price=BIG, quantity=1)
    approvals = ApprovalClient(harness.env.client)
    async with harness.worker():
        handle = await start(harness.env.client, harness.task_queue, order)
        await wait_status(handle, OrderStatus.AWAITING_APPROVAL)
        no = ApprovalDecision(approver="alice", verdict=Verdict.REJECTED, comment="too risky")
        await _approval_state(approvals, f"order-{order.order_id}")
        await approvals.decide(f"order-{order.order_id}", no)
        result = await handle.result()
    assert result.status is OrderStatus.REJECTED
    assert result.reason == "rejected by alice: too risky"
    assert harness.erp.calls["reserve_stock"] == 0


async def test_two_level_chain_with_four_eyes(harness: Harness) -> None:
    order = samples.order(unit_price="25000.00", quantity=1)  # above the finance threshold
    approvals = ApprovalClient(harness.env.client)
    subject = f"order-{order.order_id}"
    async with harness.worker():
        handle = await start(harness.env.client, harness.task_queue, order)
        await wait_status(handle, OrderStatus.AWAITING_APPROVAL)
        await _approval_state(approvals, subject)
        # frank holds cfo and finance; dave holds sales_manager.
        after_first = await approvals.decide(subject, _yes("dave"))
        assert after_first.pending_role == "finance"
        assert (await handle.query(OrderToCash.status)).status is OrderStatus.AWAITING_APPROVAL
        await approvals.decide(subject, _yes("erin"))
        await wait_status(handle, OrderStatus.AWAITING_DELIVERY)
        await handle.signal(OrderToCash.delivered, DeliveryNotice(order_id=order.order_id))
        result = await handle.result()
    assert result.status is OrderStatus.COMPLETED and result.approval is not None
    assert [(e.action.value, e.actor) for e in result.approval.audit][1:] == [
        ("approved", "dave"),
        ("approved", "erin"),
    ]


async def test_approval_deadline_rejects_automatically(harness: Harness) -> None:
    # Above the low-risk amount: the final deadline (40 business hours) rejects.
    order = samples.order(unit_price="12000.00", quantity=1)
    async with harness.worker():
        handle = await start(harness.env.client, harness.task_queue, order)
        result = await handle.result()  # the test server skips the business week
    assert result.status is OrderStatus.REJECTED
    assert result.reason == "rejected by the approval deadline"
    assert harness.erp.calls["reserve_stock"] == 0
    assert result.approval is not None and result.approval.timed_out
    actions = [e.action.value for e in result.approval.audit]
    assert actions[0] == "requested" and actions[-1] == "expired"
    assert "reminded" in actions and "escalated" in actions


async def _approval_state(approvals: ApprovalClient, subject: str) -> ApprovalState:
    """The order starts its approval right after it shows AwaitingApproval: wait for it."""
    deadline = time.monotonic() + 15
    while True:
        try:
            return await approvals.state(subject)
        except UnknownApproval:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.05)


def _yes(who: str, comment: str = "") -> ApprovalDecision:
    return ApprovalDecision(approver=who, verdict=Verdict.APPROVED, comment=comment)


async def test_credit_usage_needs_approval_even_for_small_orders(harness: Harness) -> None:
    harness.erp.credit_limit = Decimal("100")
    order = samples.order(unit_price="90.00", quantity=1)
    approvals = ApprovalClient(harness.env.client)
    async with harness.worker():
        handle = await start(harness.env.client, harness.task_queue, order)
        state = await wait_status(handle, OrderStatus.AWAITING_APPROVAL)
        subject = f"order-{order.order_id}"
        waiting = await _approval_state(approvals, subject)
        # Cancelled in Temporal (Web UI): the order cancels its approval, which leaves the inbox.
        await handle.cancel()
        result = await handle.result()
        with pytest.raises(WorkflowFailureError):
            await approvals.handle(subject).result()
        attrs = (await approvals.handle(subject).describe()).typed_search_attributes
    assert "available credit" in (state.reason or "")
    assert result.status is OrderStatus.CANCELLED and result.compensated == []
    assert waiting.pending_role == "finance" and waiting.levels[0].role == "finance"
    assert attrs.get(sa.APPROVAL_STATUS) == "Cancelled" and attrs.get(sa.APPROVAL_ROLE) == ""


async def test_delivery_deadline_marks_overdue_and_keeps_waiting(harness: Harness) -> None:
    order = samples.order()
    async with harness.worker():
        handle = await start(
            harness.env.client, harness.task_queue, order, delivery_deadline=timedelta(days=3)
        )
        await wait_status(handle, OrderStatus.AWAITING_DELIVERY)
        await harness.env.sleep(timedelta(days=3, hours=1))
        overdue = await wait_status(handle, OrderStatus.DELIVERY_OVERDUE)
        assert "no delivery within 3 days" in (overdue.reason or "")
        await handle.signal(OrderToCash.delivered, DeliveryNotice(order_id=order.order_id))
        result = await handle.result()
    assert result.status is OrderStatus.COMPLETED


async def test_out_of_stock_and_blocked_customer_are_rejected_without_writes(
    harness: Harness,
) -> None:
    harness.erp.stock = 0
    async with harness.worker():
        result = await (
            await start(harness.env.client, harness.task_queue, samples.order())
        ).result()
        assert result.status is OrderStatus.REJECTED and "insufficient stock: SKU-001" in (
            result.reason or ""
        )
        harness.erp.stock, harness.erp.blocked = 100, True
        result = await (
            await start(harness.env.client, harness.task_queue, samples.order())
        ).result()
    assert result.status is OrderStatus.REJECTED and "is blocked" in (result.reason or "")
    assert harness.erp.calls["reserve_stock"] == 0


UNDO_ALL = [
    "credit invoice",
    "cancel shipment",
    "refund payment",
    "mark deal lost",
    "cancel sales order",
    "release stock",
]
# The undos of the three writes that run at once (stock, sales order, deal).
AT_ONCE = {"mark deal lost", "cancel sales order", "release stock"}


def undone_in_reverse(result: OrderResult, expected: list[str]) -> bool:
    """`expected`'s undos ran, newest write first: the later writes' in exact reverse order,
    then those of the writes that ran at once, in the reverse of the order they returned."""
    steps = [c.step for c in result.compensated]
    later = [s for s in expected if s not in AT_ONCE]
    return steps[: len(later)] == later and sorted(steps[len(later) :]) == sorted(
        s for s in expected if s in AT_ONCE
    )


@pytest.mark.parametrize(
    ("failing", "undone"),
    [
        # One of the three at once failing: the other two went ahead and are undone.
        ("reserve_stock", ["mark deal lost", "cancel sales order"]),
        ("create_sales_order", ["mark deal lost", "release stock"]),
        ("upsert_deal", UNDO_ALL[4:]),
        ("capture_payment", UNDO_ALL[3:]),
        ("create_shipment", UNDO_ALL[2:]),
        ("confirm_delivery", UNDO_ALL[1:]),
        ("create_invoice", UNDO_ALL[1:]),
    ],
)
async def test_a_step_failing_for_good_undoes_the_done_steps_in_reverse(
    harness: Harness, failing: str, undone: list[str]
) -> None:
    target = harness.crm if failing == "upsert_deal" else harness.erp
    target.fail[failing] = BusinessRuleError("sys", "Refused", f"{failing} refused")
    order = samples.order()
    async with harness.worker():
        handle = await start(harness.env.client, harness.task_queue, order)
        if failing in ("confirm_delivery", "create_invoice"):
            await wait_status(handle, OrderStatus.AWAITING_DELIVERY)
            await handle.signal(OrderToCash.delivered, DeliveryNotice(order_id=order.order_id))
        result = await handle.result()

    assert result.status is OrderStatus.COMPENSATED
    assert f"{failing} failed: {failing} refused" in (result.reason or "")
    assert undone_in_reverse(result, undone), result.compensated
    assert target.calls[failing] == 1  # refused for good: not retried
    erp = harness.erp
    assert all(r.status == "released" for r in erp.records["reservation"].values())
    assert all(p.status == "refunded" for p in erp.records["payment"].values())
    cancelled = SalesOrderStatus.CANCELLED
    assert all(so.status is cancelled for so in erp.records["sales_order"].values())
    if failing == "confirm_delivery":
        assert erp.records["shipment"][f"S-{order.order_id}"].status is ShipmentStatus.CANCELLED
    if order.order_id in harness.crm.deals:
        assert harness.crm.deals[order.order_id].properties["dealstage"] == DealStage.CLOSED_LOST


async def _entered(*events: asyncio.Event, within: float = 15.0) -> None:
    await asyncio.wait_for(asyncio.gather(*(e.wait() for e in events)), within)


async def test_the_three_independent_writes_are_in_flight_at_once(harness: Harness) -> None:
    held = [
        harness.erp.hold("reserve_stock"),
        harness.erp.hold("create_sales_order"),
        harness.crm.hold("upsert_deal"),
    ]
    order = samples.order()
    async with harness.worker():
        handle = await start(harness.env.client, harness.task_queue, order)
        # Each is held inside its system until all three have been called.
        entered = harness.erp.entered
        await _entered(
            entered["reserve_stock"],
            entered["create_sales_order"],
            harness.crm.entered["upsert_deal"],
        )
        assert harness.erp.calls["capture_payment"] == 0
        for event in held:
            event.set()
        await wait_status(handle, OrderStatus.AWAITING_DELIVERY)
        await handle.signal(OrderToCash.delivered, DeliveryNotice(order_id=order.order_id))
        result = await handle.result()
    assert result.status is OrderStatus.COMPLETED
    assert result.sales_order_id == f"SO-{order.order_id}" and result.deal_id


async def _failed_in_history(handle: WorkflowHandle[Any, Any], step: str, within: float) -> None:
    deadline = time.monotonic() + within
    while True:
        history = await handle.fetch_history()
        scheduled = {
            e.event_id: e.activity_task_scheduled_event_attributes.activity_type.name
            for e in history.events
            if e.HasField("activity_task_scheduled_event_attributes")
        }
        failed = [
            scheduled[e.activity_task_failed_event_attributes.scheduled_event_id]
            for e in history.events
            if e.HasField("activity_task_failed_event_attributes")
        ]
        if step in failed:
            return
        assert time.monotonic() < deadline, f"{step} never failed: {failed}"
        await asyncio.sleep(0.05)


async def test_one_write_failing_waits_for_the_one_in_flight_and_undoes_both_others(
    harness: Harness,
) -> None:
    """The sales order is refused while the stock reservation is still in flight: the order
    waits for the reservation, then releases it and marks the deal lost."""
    release = harness.erp.hold("reserve_stock")
    harness.erp.fail["create_sales_order"] = BusinessRuleError("erp", "Refused", "no sale")
    order = samples.order()
    async with harness.worker():
        handle = await start(harness.env.client, harness.task_queue, order)
        try:
            await _failed_in_history(handle, "create_sales_order", within=15.0)
            # The deal goes ahead meanwhile (its activity may start after the refusal).
            await until(lambda: order.order_id in harness.crm.deals, "the deal", 15)
            state = await handle.query(OrderToCash.status)
            assert state.status is OrderStatus.CHECKING and not state.compensated
            assert harness.crm.calls["set_deal_stage"] == 0  # nothing undone before it returns
        except BaseException:
            # The order ends before its worker goes: a step still under way then holds the
            # shared test server's clock for good (the next test's sleep never returns).
            release.set()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(handle.result(), 30)
            raise
        release.set()
        result = await handle.result()
    assert result.status is OrderStatus.COMPENSATED
    assert "create_sales_order failed: no sale" in (result.reason or "")
    assert undone_in_reverse(result, ["mark deal lost", "release stock"]), result.compensated
    assert harness.erp.records["reservation"][f"R-{order.order_id}"].status == "released"
    assert harness.crm.deals[order.order_id].properties["dealstage"] == DealStage.CLOSED_LOST
    assert harness.erp.calls["capture_payment"] == 0


@pytest.mark.parametrize("by", ["update", "temporal"])
async def test_a_cancel_while_the_three_writes_run_lets_them_finish_then_undoes_all(
    harness: Harness, by: str
) -> None:
    release = harness.erp.hold("create_sales_order")
    order = samples.order()
    async with harness.worker():
        handle = await start(harness.env.client, harness.task_queue, order)
        await _entered(harness.erp.entered["create_sales_order"])
        if by == "update":
            await handle.execute_update(OrderToCash.cancel, _cancel(order.order_id))
        else:
            await handle.cancel()
        release.set()
        result = await handle.result()
    assert result.status is OrderStatus.CANCELLED
    assert result.reason == (
        "cancelled by ops: customer called" if by == "update" else "cancelled by temporal"
    )
    assert undone_in_reverse(result, UNDO_ALL[3:]), result.compensated
    erp = harness.erp
    assert erp.records["sales_order"][f"SO-{order.order_id}"].status is SalesOrderStatus.CANCELLED
    assert erp.records["reservation"][f"R-{order.order_id}"].status == "released"
    assert harness.crm.deals[order.order_id].properties["dealstage"] == DealStage.CLOSED_LOST
    assert erp.calls["capture_payment"] == 0


async def test_final_crm_step_failing_after_invoice_undoes_everything(harness: Harness) -> None:
    order = samples.order()
    async with harness.worker():
        handle = await start(harness.env.client, harness.task_queue, order)
        await wait_status(handle, OrderStatus.AWAITING_DELIVERY)
        harness.crm.fail["upsert_deal"] = InvalidRequestError("crm", "VALIDATION_ERROR", "bad deal")
        await handle.signal(OrderToCash.delivered, DeliveryNotice(order_id=order.order_id))
        result = await handle.result()
    assert result.status is OrderStatus.COMPENSATED
    assert undone_in_reverse(result, UNDO_ALL), result.compensated
    # The goods were delivered: undoing the shipment asks for them back.
    assert (
        harness.erp.records["shipment"][f"S-{order.order_id}"].status
        is ShipmentStatus.RETURN_REQUESTED
    )


async def test_an_undo_that_is_refused_leaves_the_order_needing_attention(harness: Harness) -> None:
    harness.erp.fail["capture_payment"] = BusinessRuleError("erp", "PaymentDeclined", "declined")
    harness.erp.fail["cancel_sales_order"] = BusinessRuleError(
        "erp", "InvalidState", "already shipped"
    )
    async with harness.worker():
        result = await (
            await start(harness.env.client, harness.task_queue, samples.order())
        ).result()
    assert result.status is OrderStatus.NEEDS_ATTENTION
    assert "could not undo: cancel sales order" in (result.reason or "")
    assert undone_in_reverse(result, UNDO_ALL[3:]), result.compensated
    details = {c.step: c.detail for c in result.compensated}
    assert details["cancel sales order"] == "failed: already shipped"


def _cancel(order_id: str) -> CancelRequest:
    return CancelRequest(order_id=order_id, requested_by="ops", reason="customer called")


async def test_cancel_while_checking_writes_nothing(harness: Harness) -> None:
    release = harness.erp.hold("check_stock")
    order = samples.order()
    async with harness.worker():
        handle = await start(harness.env.client, harness.task_queue, order)
        await harness.erp.entered["check_stock"].wait()
        await handle.execute_update(OrderToCash.cancel, _cancel(order.order_id))
        release.set()
        result = await handle.result()
    assert (
        result.status is OrderStatus.CANCELLED
        and result.reason == "cancelled by ops: customer called"
    )
    assert harness.erp.calls["reserve_stock"] == 0 and result.compensated == []


async def test_cancel_while_awaiting_approval(harness: Harness) -> None:
    order = samples.order(unit_price=BIG, quantity=1)
    async with harness.worker():
        handle = await start(harness.env.client, harness.task_queue, order)
        await wait_status(handle, OrderStatus.AWAITING_APPROVAL)
        await handle.execute_update(OrderToCash.cancel, _cancel(order.order_id))
        result = await handle.result()
        # A finished order refuses further updates (the server answers, not the validator).
        with pytest.raises((WorkflowUpdateFailedError, RPCError)):
            await handle.execute_update(OrderToCash.cancel, _cancel(order.order_id))
        approval = ApprovalClient(harness.env.client).handle(f"order-{order.order_id}")
        attrs = (await approval.describe()).typed_search_attributes
    assert result.status is OrderStatus.CANCELLED and result.compensated == []
    assert attrs.get(sa.APPROVAL_STATUS) == "Cancelled"


async def test_cancel_during_an_inflight_payment_lets_it_finish_then_refunds(
    harness: Harness,
) -> None:
    release = harness.erp.hold("capture_payment")
    order = samples.order()
    async with harness.worker():
        handle = await start(harness.env.client, harness.task_queue, order)
        await harness.erp.entered["capture_payment"].wait()
        await handle.execute_update(OrderToCash.cancel, _cancel(order.order_id))
        release.set()
        result = await handle.result()
    assert result.status is OrderStatus.CANCELLED
    assert undone_in_reverse(result, UNDO_ALL[2:]), result.compensated
    assert harness.erp.records["payment"][f"P-{order.order_id}"].status == "refunded"
    assert harness.erp.calls["create_shipment"] == 0


@pytest.mark.parametrize("stage", [OrderStatus.AWAITING_DELIVERY, OrderStatus.DELIVERY_OVERDUE])
async def test_cancel_while_waiting_for_delivery_undoes_everything(
    harness: Harness, stage: OrderStatus
) -> None:
    order = samples.order()
    async with harness.worker():
        handle = await start(
            harness.env.client, harness.task_queue, order, delivery_deadline=timedelta(hours=1)
        )
        await wait_status(handle, OrderStatus.AWAITING_DELIVERY)
        if stage is OrderStatus.DELIVERY_OVERDUE:
            await harness.env.sleep(timedelta(hours=2))
            await wait_status(handle, stage)
        await handle.execute_update(OrderToCash.cancel, _cancel(order.order_id))
        result = await handle.result()
    assert result.status is OrderStatus.CANCELLED
    assert undone_in_reverse(result, UNDO_ALL[1:]), result.compensated
    assert harness.erp.records["shipment"][f"S-{order.order_id}"].status is ShipmentStatus.CANCELLED


async def test_temporal_cancellation_compensates_too(harness: Harness) -> None:
    order = samples.order()
    async with harness.worker():
        handle = await start(harness.env.client, harness.task_queue, order)
        await wait_status(handle, OrderStatus.AWAITING_DELIVERY)
        await handle.cancel()
        result = await handle.result()
    assert result.status is OrderStatus.CANCELLED and result.reason == "cancelled in Temporal"
    assert undone_in_reverse(result, UNDO_ALL[1:]), result.compensated


async def test_cancel_after_delivery_is_refused_with_a_reason(harness: Harness) -> None:
    release = harness.erp.hold("create_invoice")
    order = samples.order()
    async with harness.worker():
        handle = await start(harness.env.client, harness.task_queue, order)
        await wait_status(handle, OrderStatus.AWAITING_DELIVERY)
        await handle.signal(OrderToCash.delivered, DeliveryNotice(order_id=order.order_id))
        await harness.erp.entered["create_invoice"].wait()
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await handle.execute_update(OrderToCash.cancel, _cancel(order.order_id))
        release.set()
        result = await handle.result()
    assert "was delivered; it can no longer be cancelled" in str(refused.value.cause)
    assert result.status is OrderStatus.COMPLETED


async def test_delivery_notice_for_another_order_is_ignored(harness: Harness) -> None:
    order = samples.order()
    async with harness.worker():
        handle = await start(harness.env.client, harness.task_queue, order)
        await wait_status(handle, OrderStatus.AWAITING_DELIVERY)
        await handle.signal(OrderToCash.delivered, DeliveryNotice(order_id="someone-else"))
        await handle.signal(
            OrderToCash.delivered, DeliveryNotice(order_id=order.order_id, carrier="UPS")
        )
        result = await handle.result()
    assert ("delivered", "by UPS") in [(s.step, s.detail) for s in result.steps]


async def test_an_order_keeps_each_event_once_and_at_most_max_events(harness: Harness) -> None:
    # A sender with ever new event ids must not grow the order's state without bound.
    order = samples.order()
    async with harness.worker():
        handle = await start(harness.env.client, harness.task_queue, order)
        await wait_status(handle, OrderStatus.AWAITING_DELIVERY)
        for n in [*range(MAX_EVENTS + 10), 0, 1]:  # the last two again: kept once
            notice = EventNotice(
                event_id=f"E-{n}",
                source="payments",
                type="payment-captured",
                order_id=order.order_id,
            )
            await handle.signal(OrderToCash.received, notice)
        await handle.signal(
            OrderToCash.delivered, DeliveryNotice(order_id=order.order_id, carrier="UPS")
        )
        result = await handle.result()
    events = [s.detail for s in result.steps if s.step == "payment-captured"]
    assert events == [f"payments event E-{n}" for n in range(MAX_EVENTS)]
    assert result.status is OrderStatus.COMPLETED


async def test_the_staff_member_who_entered_an_order_may_not_approve_it(harness: Harness) -> None:
    # The approval's requester is who entered the order, not the customer: four-eyes for staff.
    order = samples.order(unit_price=BIG, quantity=1)
    approvals = ApprovalClient(harness.env.client)
    subject = f"order-{order.order_id}"
    async with harness.worker():
        handle = await start(harness.env.client, harness.task_queue, order, entered_by="alice")
        await wait_status(handle, OrderStatus.AWAITING_APPROVAL)
        assert (await _approval_state(approvals, subject)).requester == "alice"
        with pytest.raises(ApprovalError, match="may not decide their own request"):
            await approvals.decide(subject, _yes("alice"))
        await approvals.decide(subject, _yes("dave"))
        await wait_status(handle, OrderStatus.AWAITING_DELIVERY)
        await handle.signal(
            OrderToCash.delivered, DeliveryNotice(order_id=order.order_id, carrier="UPS")
        )
        assert (await handle.result()).status is OrderStatus.COMPLETED
