"""What a purchase tells other systems: its business events (domain.events.purchases), built
from the purchase's own state at each step and handed to its publisher by the process's emitter
(workflows/events.py: one local activity per workflow task that emitted).

Behind the "purchase-events" patch: purchases started before it replay without the markers.
"""

from __future__ import annotations

from decimal import Decimal

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain.approvals.models import ApprovalOutcome
    from domain.erp import ErpReceipt, ErpSupplierInvoice
    from domain.events import purchases as events
    from domain.events.purchases import AttentionCause, ExceptionOutcome, RejectionCause
    from domain.purchasing.models import (
        ExceptionDecision,
        GoodsReceipt,
        PurchaseOrder,
        PurchaseResult,
        PurchaseStatus,
        Requisition,
        SupplierConfirmation,
        SupplierInvoice,
        SupplierPayment,
    )
    from workflows.events import Events

EVENTS_PATCH = "purchase-events"


class PurchaseAnnouncer:
    def __init__(self, req: Requisition) -> None:
        self._req = req
        self._events = Events(workflow.info().workflow_id, events.SOURCE, EVENTS_PATCH)

    def _keys(self) -> dict[str, str]:
        return {"requisition_id": self._req.requisition_id, "supplier_id": self._req.supplier_id}

    def _emit(self, type: str, data: events.PurchaseData) -> None:
        self._events.emit(type, self._req.requisition_id, data)

    async def flush(self) -> None:
        await self._events.flush()

    def requested(self) -> None:
        req = self._req
        lines = [
            events.RequestedLine(
                line_no=line.line_no,
                product=line.product,
                category=line.category,
                quantity=line.quantity,
                unit=line.unit,
                expected_price=line.expected_price,
            )
            for line in req.lines
        ]
        data = events.PurchaseRequested(
            **self._keys(),
            requested_by=req.requested_by,
            cost_centre=req.cost_centre,
            total=req.total,
            currency=req.currency,
            needed_by=req.needed_by,
            lines=lines,
        )
        self._emit(events.REQUESTED, data)

    def invalid(self, fields: list[str]) -> None:
        data = events.PurchaseRejected(
            **self._keys(), cause=RejectionCause.INVALID, fields=sorted(set(fields))
        )
        self._emit(events.REJECTED, data)

    def approved(self, outcome: ApprovalOutcome) -> None:
        req = self._req
        data = events.PurchaseApproved(
            **self._keys(), total=req.total, currency=req.currency, decided_by=outcome.decided_by
        )
        self._emit(events.APPROVED, data)

    def ordered(self, order: PurchaseOrder) -> None:
        data = events.PurchaseOrdered(
            **self._keys(),
            purchase_order_id=order.purchase_order_id,
            total=order.total,
            currency=order.currency,
        )
        self._emit(events.ORDERED, data)

    def confirmed(self, po: str, confirmation: SupplierConfirmation) -> None:
        data = events.PurchaseConfirmed(
            **self._keys(),
            purchase_order_id=po,
            supplier_reference=confirmation.supplier_reference,
            promised_date=confirmation.promised_date,
        )
        self._emit(events.CONFIRMED, data)

    def goods_received(self, receipt: GoodsReceipt, recorded: ErpReceipt) -> None:
        data = events.GoodsReceived(
            **self._keys(),
            purchase_order_id=recorded.purchase_order_id,
            receipt_id=receipt.receipt_id,
            erp_receipt_id=recorded.erp_receipt_id,
            kind=receipt.kind.value,
            lines=[
                events.ReceivedLine(line_no=x.line_no, quantity=x.quantity, unit=x.unit)
                for x in receipt.lines
            ],
        )
        self._emit(events.GOODS_RECEIVED, data)

    def invoice_received(self, invoice: SupplierInvoice, posted: ErpSupplierInvoice) -> None:
        data = events.InvoiceReceived(
            **self._keys(),
            purchase_order_id=posted.purchase_order_id,
            reference=invoice.reference,
            erp_invoice_id=posted.erp_invoice_id,
            kind=invoice.kind.value,
            credits_reference=invoice.credits_reference,
            net=invoice.net,
            tax=invoice.tax,
            gross=invoice.gross,
            currency=invoice.currency,
            due_on=invoice.due_on,
        )
        self._emit(events.INVOICE_RECEIVED, data)

    def exception_opened(
        self,
        round_no: int,
        review_id: str,
        lines: list[int],
        reasons: list[str],
        variance: Decimal,
        reviewer_role: str,
    ) -> None:
        data = events.ExceptionOpened(
            **self._keys(),
            round_no=round_no,
            review_id=review_id,
            lines=lines,
            reasons=reasons,
            variance=variance,
            currency=self._req.currency,
            reviewer_role=reviewer_role,
        )
        self._emit(events.EXCEPTION_OPENED, data)

    def exception_decided(self, decision: ExceptionDecision) -> None:
        accepted, rejected = decision.accepted_lines, decision.rejected_lines
        outcome = (
            ExceptionOutcome.REJECTED
            if not accepted
            else ExceptionOutcome.PARTLY_ACCEPTED
            if rejected
            else ExceptionOutcome.ACCEPTED
        )
        data = events.ExceptionDecided(
            **self._keys(),
            round_no=decision.round_no,
            outcome=outcome,
            accepted_lines=accepted,
            rejected_lines=rejected,
            decided_by=decision.decided_by,
            variance=decision.variance,
            currency=self._req.currency,
        )
        self._emit(events.EXCEPTION_DECIDED, data)

    def exception_withdrawn(self, round_no: int, variance: Decimal) -> None:
        data = events.ExceptionDecided(
            **self._keys(),
            round_no=round_no,
            outcome=ExceptionOutcome.WITHDRAWN,
            accepted_lines=[],
            rejected_lines=[],
            decided_by=None,
            variance=variance,
            currency=self._req.currency,
        )
        self._emit(events.EXCEPTION_DECIDED, data)

    def paid(self, payment: SupplierPayment) -> None:
        data = events.PurchasePaid(
            **self._keys(),
            purchase_order_id=payment.purchase_order_id,
            payment_id=payment.payment_id,
            invoice_reference=payment.invoice_reference,
            lines=payment.lines,
            amount=payment.amount,
            currency=payment.currency,
        )
        self._emit(events.PAID, data)

    def completed(self, result: PurchaseResult) -> None:
        data = events.PurchaseCompleted(
            **self._keys(),
            purchase_order_id=result.purchase_order_id,
            total=result.total,
            paid=sum((p.amount for p in result.payments), Decimal("0")),
            currency=result.currency,
            payment_ids=[p.payment_id for p in result.payments],
            invoice_references=[i.reference for i in result.invoices],
        )
        self._emit(events.COMPLETED, data)

    def stopped(
        self,
        result: PurchaseResult,
        *,
        cause: RejectionCause | None,
        failed_step: str | None,
        cancelled_by: str | None,
        undone: list[str],
        not_undone: list[str],
    ) -> None:
        """The last event of a purchase that did not complete, after its unwinding: `result`'s
        status says which."""
        po, status = result.purchase_order_id, result.status
        data: events.PurchaseData
        if status is PurchaseStatus.NEEDS_ATTENTION:
            why = AttentionCause.PAID_BEFORE_STOP if result.payments else AttentionCause.UNDO_FAILED
            data = events.PurchaseNeedsAttention(
                **self._keys(),
                purchase_order_id=po,
                undone=undone,
                cause=why,
                failed_step=failed_step,
                not_undone=not_undone,
                payment_ids=[p.payment_id for p in result.payments],
            )
            self._emit(events.NEEDS_ATTENTION, data)
        elif status is PurchaseStatus.CANCELLED:
            data = events.PurchaseCancelled(
                **self._keys(), purchase_order_id=po, undone=undone, cancelled_by=cancelled_by or ""
            )
            self._emit(events.CANCELLED, data)
        elif status is PurchaseStatus.COMPENSATED:
            data = events.PurchaseCompensated(
                **self._keys(), purchase_order_id=po, undone=undone, failed_step=failed_step
            )
            self._emit(events.COMPENSATED, data)
        else:  # rejected before anything was written
            data = events.PurchaseRejected(
                **self._keys(),
                cause=cause or RejectionCause.STEP_REFUSED,
                failed_step=failed_step,
            )
            self._emit(events.REJECTED, data)
