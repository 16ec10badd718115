"""Order-to-cash: validate, check, approve, reserve, sell, charge, ship, deliver, invoice.

Every write that succeeds registers its undo; a step that fails for good, a rejection after
writes, or a cancellation undoes them in reverse order (saga). A write in flight when a
cancellation arrives is allowed to finish, so that what it did is known and can be undone.
Stock, sales order and CRM deal need nothing from each other: they are written at once
(`workflows.orders.writes`). Subscribers learn of each step and of the end from the order's
business events (`workflows.orders.business_events`).
What people and systems tell the order arrives through `OrderMessages`; the gate of orders
started before the Approval process, through `LegacyGateHandlers`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from typing import TypeVar

from pydantic import BaseModel, ValidationError
from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.orders.crm import CrmActivities
    from activities.orders.erp import ErpActivities
    from domain.approvals.policy import requires_approval
    from domain.credit import CreditStatus
    from domain.crm import DealStage
    from domain.events.orders import RejectionCause
    from domain.orders.contract import WORKFLOW_NAME, OrderToCashInput
    from domain.orders.lifecycle import CancelRequest, DeliveryNotice
    from domain.orders.models import OrderResult, OrderStatus
    from domain.orders.rules import describe, validate_order
    from domain.orders.steps import (
        CreditCheck,
        DealStageChange,
        DealUpdate,
        DeliveryConfirmation,
        InvoiceRequest,
        PaymentRequest,
        SalesOrderRequest,
        ShipmentRequest,
        StockCheck,
        StockReservation,
        Undo,
    )
    from workflows.failures import reason
    from workflows.orders.approval_step import OrderApproval
    from workflows.orders.business_events import OrderEvents
    from workflows.orders.legacy_gate import LegacyGateHandlers
    from workflows.orders.messages import OrderMessages
    from workflows.orders.tracking import OrderTracker
    from workflows.orders.writes import CONCURRENT_WRITES, Stop, at_once, in_turn, refusal
    from workflows.policies import READ, WRITE, ActivityOptions
    from workflows.saga import Saga, Undoing, failed
    from workflows.steps import Step, step_name

A = TypeVar("A", bound=BaseModel)
R = TypeVar("R", bound=BaseModel)


@workflow.defn(name=WORKFLOW_NAME, failure_exception_types=[ValidationError])
class OrderToCash(OrderMessages, LegacyGateHandlers):
    @workflow.init
    def __init__(self, input: OrderToCashInput) -> None:
        self._order = input.order
        self._track = OrderTracker(input.order)
        self._saga = Saga(input.order.order_id)
        self._approval: OrderApproval = OrderApproval(input.order.order_id)
        self._delivery: DeliveryNotice | None = None
        self._cancel: CancelRequest | None = None
        self._stop = asyncio.Event()
        self._events = OrderEvents(input.order)

    @workflow.run
    async def run(self, input: OrderToCashInput) -> OrderResult:
        self._track.start()
        self._events.placed()
        if violations := validate_order(input.order):
            self._track.set_status(OrderStatus.INVALID, describe(violations))
            self._events.rejected_invalid()
            await self._events.flush()
            raise ApplicationError(
                f"invalid order {input.order.order_id}: {describe(violations)}",
                [v.model_dump() for v in violations],
                type="InvalidOrder",
                non_retryable=True,
            )
        try:
            await self._fulfil(input)
        except Stop as stop:
            return await self._unwind(stop)
        except asyncio.CancelledError:
            # Cancelled in Temporal itself (Web UI, `temporal workflow cancel`) while waiting.
            return await self._unwind(Stop(OrderStatus.CANCELLED, "cancelled in Temporal"))
        self._track.set_status(OrderStatus.COMPLETED, "")
        self._events.ended(self._track.result)
        await self._events.flush()
        return self._track.result

    async def _fulfil(self, input: OrderToCashInput) -> None:
        order, oid, result = input.order, input.order.order_id, self._track.result
        erp, crm = ErpActivities, CrmActivities
        self._track.set_status(OrderStatus.CHECKING)
        credit, stock = await asyncio.gather(
            self._call(
                erp.check_credit,
                CreditCheck(order_id=oid, customer_id=order.customer.customer_id),
                READ,
            ),
            self._call(erp.check_stock, StockCheck(order_id=oid, lines=order.lines), READ),
        )
        if stop := refusal(credit, stock):
            raise stop
        self._checkpoint()
        await self._approve(input, credit)

        def undo(label: str, step: Step[Undo, BaseModel]) -> Callable[[str], Undoing]:
            return lambda record_id: (label, step, Undo(order_id=oid, record_id=record_id))

        release = undo("release stock", erp.release_stock)
        cancel_so = undo("cancel sales order", erp.cancel_sales_order)
        lost = DealStageChange(order_id=oid, stage=DealStage.CLOSED_LOST)
        # Three writes that need nothing from each other (each starts when awaited).
        writes = (
            self._write(
                erp.reserve_stock,
                StockReservation(order_id=oid, lines=order.lines),
                lambda r: release(r.reservation_id),
            ),
            self._write(
                erp.create_sales_order,
                SalesOrderRequest(order=order),
                lambda r: cancel_so(r.sales_order_id),
            ),
            self._write(
                crm.upsert_deal,
                DealUpdate(order=order, stage=DealStage.CONTRACT_SENT),
                lambda _: ("mark deal lost", crm.set_deal_stage, lost),
            ),
        )
        if workflow.patched(CONCURRENT_WRITES):
            temporal = CancelRequest(order_id=oid, requested_by="temporal")
            cancelled = lambda: self._request_stop(temporal)  # noqa: E731
            undo_order = (erp.release_stock, erp.cancel_sales_order, crm.set_deal_stage)
            _, sales_order, deal = await at_once(
                *writes, saga=self._saga, undo_order=undo_order, on_cancel=cancelled
            )
        else:
            _, sales_order, deal = await in_turn(*writes)
        so_id = result.sales_order_id = sales_order.sales_order_id
        result.deal_id = deal.deal_id
        refund = undo("refund payment", erp.refund_payment)
        payment = await self._write(
            erp.capture_payment,
            PaymentRequest(
                order_id=oid,
                amount=order.total,
                currency=order.currency,
                method=order.payment_method,
                reference=order.payment_reference,
            ),
            lambda r: refund(r.payment_id),
        )
        result.payment_id = payment.payment_id
        self._events.paid(payment)
        cancel_shipment = undo("cancel shipment", erp.cancel_shipment)
        shipment = await self._write(
            erp.create_shipment,
            ShipmentRequest(
                order_id=oid,
                sales_order_id=so_id,
                address=order.shipping_address,
                lines=order.lines,
            ),
            lambda r: cancel_shipment(r.shipment_id),
        )
        result.shipment_id = shipment.shipment_id
        self._events.shipped(shipment, so_id)
        notice = await self._await_delivery(input.delivery_deadline, shipment.tracking_number)
        delivered_at = notice.delivered_at or workflow.now()
        confirmation = DeliveryConfirmation(
            order_id=oid, shipment_id=shipment.shipment_id, delivered_at=delivered_at
        )
        await self._write(erp.confirm_delivery, confirmation)
        self._events.delivered(confirmation)

        self._track.set_status(OrderStatus.INVOICING)
        credit_invoice = undo("credit invoice", erp.credit_invoice)
        invoice = await self._write(
            erp.create_invoice,
            InvoiceRequest(order_id=oid, sales_order_id=so_id),
            lambda r: credit_invoice(r.invoice_id),
        )
        result.invoice_id = invoice.invoice_id
        self._events.invoiced(invoice, so_id)
        won = DealUpdate(order=order, stage=DealStage.CLOSED_WON, close_date=workflow.now())
        await self._write(crm.upsert_deal, won)

    async def _approve(self, input: OrderToCashInput, credit: CreditStatus) -> None:
        need = requires_approval(input.order.total, credit, input.policy)
        if not need.required:
            return
        self._track.set_status(OrderStatus.AWAITING_APPROVAL, "; ".join(need.reasons))
        # New orders run the Approval process as a child; older ones keep the single gate.
        decision = await self._approval.wait(input, credit, need.reasons, self._stop)
        self._track.result.approval = self._approval.outcome
        self._checkpoint()
        assert decision is not None  # None only when stopped, and the checkpoint raised
        if not decision.approved:
            raise Stop(OrderStatus.REJECTED, decision.reason, cause=RejectionCause.NOT_APPROVED)
        self._track.record("approved", f"by {decision.decided_by}")
        self._events.approved()
        self._track.set_status(OrderStatus.PROCESSING, "")

    async def _await_delivery(self, deadline: timedelta, tracking: str) -> DeliveryNotice:
        self._track.set_status(OrderStatus.AWAITING_DELIVERY, f"tracking {tracking}")
        arrived = lambda: self._delivery is not None or self._stop.is_set()  # noqa: E731
        try:
            await workflow.wait_condition(
                arrived, timeout=deadline, timeout_summary="delivery deadline"
            )
        except TimeoutError:
            late = f"no delivery within {deadline}; tracking {tracking}"
            self._track.set_status(OrderStatus.DELIVERY_OVERDUE, late)
            await workflow.wait_condition(arrived)
        self._checkpoint()
        assert self._delivery is not None
        self._track.record("delivered", f"by {self._delivery.carrier}")
        return self._delivery

    async def _write(
        self, step: Step[A, R], arg: A, undo: Callable[[R], Undoing] | None = None
    ) -> R:
        """A write, its undo registered before anything else can stop the process."""
        self._checkpoint()
        result = await self._call(step, arg, WRITE)
        if undo is not None:
            self._saga.add(*undo(result))
        self._track.record(step_name(step))
        self._checkpoint()
        return result

    async def _call(self, step: Step[A, R], arg: A, options: ActivityOptions) -> R:
        handle = workflow.start_activity_method(
            step, arg, summary=f"{step_name(step)} {self._order.order_id}", **options
        )
        try:
            try:
                return await asyncio.shield(handle)
            except asyncio.CancelledError:
                self._request_stop(
                    CancelRequest(order_id=self._order.order_id, requested_by="temporal")
                )
                return await handle
        except ActivityError as err:
            status = OrderStatus.COMPENSATED if self._saga else OrderStatus.REJECTED
            name, refused = step_name(step), RejectionCause.STEP_REFUSED
            why = f"{name} failed: {reason(err)}"
            raise Stop(status, why, cause=refused, step=name) from err

    async def _unwind(self, stop: Stop) -> OrderResult:
        self._events.release()
        status, why = stop.status, stop.reason
        if self._saga:
            self._track.set_status(OrderStatus.COMPENSATING, why)
        undone = await self._saga.unwind()
        self._track.result.compensated = undone
        if broken := failed(undone):
            status, why = OrderStatus.NEEDS_ATTENTION, f"{why}; could not undo: {', '.join(broken)}"
        self._track.set_status(status, why)
        self._events.ended(self._track.result, stop)
        await self._events.flush()
        return self._track.result

    def _checkpoint(self) -> None:
        if self._cancel is not None:
            why = f": {self._cancel.reason}" if self._cancel.reason else ""
            raise Stop(OrderStatus.CANCELLED, f"cancelled by {self._cancel.requested_by}{why}")
