"""Order-to-cash: validate, check, approve, reserve, sell, charge, ship, deliver, invoice.

Every write that succeeds registers its undo; a step that fails for good, a rejection after
writes, or a cancellation undoes them in reverse order (saga). A write in flight when a
cancellation arrives is allowed to finish, so that what it did is known and can be undone.
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
    from domain.approvals.legacy_gate import GateDecision, GateState
    from domain.approvals.models import Verdict
    from domain.approvals.policy import requires_approval
    from domain.credit import CreditStatus
    from domain.crm import DealStage
    from domain.erp import Invoice, Payment, Reservation, SalesOrder, Shipment, StockStatus
    from domain.orders.contract import WORKFLOW_NAME, OrderToCashInput
    from domain.orders.lifecycle import CancelRequest, DeliveryNotice, EventNotice, cancel_problem
    from domain.orders.models import OrderResult, OrderStatus
    from domain.orders.rules import describe, validate_order
    from domain.orders.steps import (
        CreditCheck,
        DealOutcome,
        DealStageChange,
        DealUpdate,
        DeliveryConfirmation,
        InvoiceRequest,
        PaymentRequest,
        SalesOrderRequest,
        ShipmentRequest,
        StepName,
        StockCheck,
        StockReservation,
        Undo,
    )
    from workflows.orders.approval_step import OrderApproval
    from workflows.orders.tracking import OrderTracker
    from workflows.policies import READ, WRITE, ActivityOptions
    from workflows.saga import Saga, failed

T = TypeVar("T", bound=BaseModel)


class _Stop(Exception):
    """Ends the forward path: the order was rejected, failed for good, or cancelled."""

    def __init__(self, status: OrderStatus, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@workflow.defn(name=WORKFLOW_NAME, failure_exception_types=[ValidationError])
class OrderToCash:
    @workflow.init
    def __init__(self, input: OrderToCashInput) -> None:
        self._order = input.order
        self._track = OrderTracker(input.order)
        self._saga = Saga(input.order.order_id)
        self._approval = OrderApproval(input.order.order_id)
        self._delivery: DeliveryNotice | None = None
        self._cancel: CancelRequest | None = None
        self._stop = asyncio.Event()

    @workflow.run
    async def run(self, input: OrderToCashInput) -> OrderResult:
        self._track.start()
        if violations := validate_order(input.order):
            self._track.set_status(OrderStatus.INVALID, describe(violations))
            raise ApplicationError(
                f"invalid order {input.order.order_id}: {describe(violations)}",
                [v.model_dump() for v in violations],
                type="InvalidOrder",
                non_retryable=True,
            )
        try:
            await self._fulfil(input)
        except _Stop as stop:
            return await self._unwind(stop.status, stop.reason)
        except asyncio.CancelledError:
            # Cancelled in Temporal itself (Web UI, `temporal workflow cancel`) while waiting.
            return await self._unwind(OrderStatus.CANCELLED, "cancelled in Temporal")
        self._track.set_status(OrderStatus.COMPLETED, "")
        return self._track.result

    async def _fulfil(self, input: OrderToCashInput) -> None:
        order, oid, result = input.order, input.order.order_id, self._track.result
        self._track.set_status(OrderStatus.CHECKING)
        credit, stock = await asyncio.gather(
            self._read(
                StepName.CHECK_CREDIT,
                CreditCheck(order_id=oid, customer_id=order.customer.customer_id),
                CreditStatus,
            ),
            self._read(
                StepName.CHECK_STOCK, StockCheck(order_id=oid, lines=order.lines), StockStatus
            ),
        )
        if credit.blocked:
            raise _Stop(OrderStatus.REJECTED, f"customer {credit.customer_id} is blocked")
        if stock.shortages:
            short = ", ".join(
                f"{s.sku} (requested {s.requested}, available {s.available})"
                for s in stock.shortages
            )
            raise _Stop(OrderStatus.REJECTED, f"insufficient stock: {short}")
        self._checkpoint()
        await self._approve(input, credit)

        def undo(label: str, step: StepName, record_id: str) -> tuple[str, StepName, BaseModel]:
            return label, step, Undo(order_id=oid, record_id=record_id)

        await self._write(
            StepName.RESERVE_STOCK,
            StockReservation(order_id=oid, lines=order.lines),
            Reservation,
            lambda r: undo("release stock", StepName.RELEASE_STOCK, r.reservation_id),
        )
        sales_order = await self._write(
            StepName.CREATE_SALES_ORDER,
            SalesOrderRequest(order=order),
            SalesOrder,
            lambda r: undo("cancel sales order", StepName.CANCEL_SALES_ORDER, r.sales_order_id),
        )
        so_id = result.sales_order_id = sales_order.sales_order_id
        lost = DealStageChange(order_id=oid, stage=DealStage.CLOSED_LOST)
        deal = await self._write(
            StepName.UPSERT_DEAL,
            DealUpdate(order=order, stage=DealStage.CONTRACT_SENT),
            DealOutcome,
            lambda _: ("mark deal lost", StepName.SET_DEAL_STAGE, lost),
        )
        result.deal_id = deal.deal_id
        payment = await self._write(
            StepName.CAPTURE_PAYMENT,
            PaymentRequest(
                order_id=oid,
                amount=order.total,
                currency=order.currency,
                method=order.payment_method,
                reference=order.payment_reference,
            ),
            Payment,
            lambda r: undo("refund payment", StepName.REFUND_PAYMENT, r.payment_id),
        )
        result.payment_id = payment.payment_id
        shipment = await self._write(
            StepName.CREATE_SHIPMENT,
            ShipmentRequest(
                order_id=oid,
                sales_order_id=so_id,
                address=order.shipping_address,
                lines=order.lines,
            ),
            Shipment,
            lambda r: undo("cancel shipment", StepName.CANCEL_SHIPMENT, r.shipment_id),
        )
        result.shipment_id = shipment.shipment_id
        notice = await self._await_delivery(input.delivery_deadline, shipment.tracking_number)
        delivered_at = notice.delivered_at or workflow.now()
        confirmation = DeliveryConfirmation(
            order_id=oid, shipment_id=shipment.shipment_id, delivered_at=delivered_at
        )
        await self._write(StepName.CONFIRM_DELIVERY, confirmation, Shipment)

        self._track.set_status(OrderStatus.INVOICING)
        invoice = await self._write(
            StepName.CREATE_INVOICE,
            InvoiceRequest(order_id=oid, sales_order_id=so_id),
            Invoice,
            lambda r: undo("credit invoice", StepName.CREDIT_INVOICE, r.invoice_id),
        )
        result.invoice_id = invoice.invoice_id
        won = DealUpdate(order=order, stage=DealStage.CLOSED_WON, close_date=workflow.now())
        await self._write(StepName.UPSERT_DEAL, won, DealOutcome)

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
            raise _Stop(OrderStatus.REJECTED, decision.reason)
        self._track.record("approved", f"by {decision.decided_by}")
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

    async def _read(self, step: StepName, arg: BaseModel, result_type: type[T]) -> T:
        return await self._call(step, arg, result_type, READ)

    async def _write(
        self,
        step: StepName,
        arg: BaseModel,
        result_type: type[T],
        undo: Callable[[T], tuple[str, StepName, BaseModel]] | None = None,
    ) -> T:
        """A write, its undo registered before anything else can stop the process."""
        self._checkpoint()
        result = await self._call(step, arg, result_type, WRITE)
        if undo is not None:
            self._saga.add(*undo(result))
        self._track.record(step.value)
        self._checkpoint()
        return result

    async def _call(
        self, step: StepName, arg: BaseModel, result_type: type[T], options: ActivityOptions
    ) -> T:
        summary = f"{step.value} {self._order.order_id}"
        handle: workflow.ActivityHandle[T] = workflow.start_activity(
            step.value, arg, result_type=result_type, summary=summary, **options
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
            cause = err.cause
            detail = cause.message if isinstance(cause, ApplicationError) else str(cause or err)
            status = OrderStatus.COMPENSATED if self._saga else OrderStatus.REJECTED
            raise _Stop(status, f"{step.value} failed: {detail}") from err

    async def _unwind(self, status: OrderStatus, reason: str) -> OrderResult:
        if self._saga:
            self._track.set_status(OrderStatus.COMPENSATING, reason)
        undone = await self._saga.unwind()
        self._track.result.compensated = undone
        if broken := failed(undone):
            status, reason = (
                OrderStatus.NEEDS_ATTENTION,
                f"{reason}; could not undo: {', '.join(broken)}",
            )
        self._track.set_status(status, reason)
        return self._track.result

    # --- messages from people and other services -------------------------------------------

    @workflow.query
    def status(self) -> OrderResult:
        return self._track.result

    # The single-level gate of orders started before the Approval process (see order_approval).
    @workflow.query
    def approval(self) -> GateState | None:
        return self._approval.gate.state

    @workflow.update
    def approve(self, decision: GateDecision) -> GateState:
        return self._approval.gate.decide(decision, Verdict.APPROVED)

    @workflow.update
    def reject(self, decision: GateDecision) -> GateState:
        return self._approval.gate.decide(decision, Verdict.REJECTED)

    @approve.validator
    def _check_approve(self, decision: GateDecision) -> None:
        self._check_decision(decision)

    @reject.validator
    def _check_reject(self, decision: GateDecision) -> None:
        self._check_decision(decision)

    def _check_decision(self, decision: GateDecision) -> None:
        if self._approval.in_child:
            oid = self._order.order_id
            raise ValueError(f"order {oid} is decided in workflow approval-order-{oid} (decide)")
        if problem := self._approval.gate.problem(decision):
            raise ValueError(problem)
        if self._cancel is not None:
            raise ValueError(f"order {self._order.order_id} is being cancelled")

    @workflow.update
    def cancel(self, request: CancelRequest) -> OrderResult:
        self._request_stop(request)
        return self._track.result

    @cancel.validator
    def _check_cancel(self, request: CancelRequest) -> None:
        status, delivered = self._track.result.status, self._delivery is not None
        if problem := cancel_problem(
            request, self._order.order_id, status, delivered, self._cancel
        ):
            raise ValueError(problem)

    @workflow.signal
    def delivered(self, notice: DeliveryNotice) -> None:
        if notice.order_id != self._order.order_id:
            workflow.logger.warning("ignored a delivery notice for order %s", notice.order_id)
        elif self._delivery is None:
            self._delivery = notice

    @workflow.signal
    def received(self, event: EventNotice) -> None:
        """News from another system (a webhook): kept in the tracking, once per event id."""
        detail = f"{event.source} event {event.event_id}"
        if event.order_id == self._order.order_id and all(
            step.detail != detail for step in self._track.result.steps
        ):
            self._track.record(event.type, detail)

    def _request_stop(self, request: CancelRequest) -> None:
        if self._cancel is None:
            self._cancel = request
            self._stop.set()

    def _checkpoint(self) -> None:
        if self._cancel is not None:
            why = f": {self._cancel.reason}" if self._cancel.reason else ""
            raise _Stop(OrderStatus.CANCELLED, f"cancelled by {self._cancel.requested_by}{why}")
