"""A stand-in ProcureToPay for the clients' tests: the real workflow's name, id scheme, query,
signal and updates (domain.purchasing.contract), answering as it does (a validator refuses a
document that cannot belong to the purchase; a duplicate invoice is answered accepted=False and
kept in `refused`), so the CLI and the gateway meet the contract on a real dev server."""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from domain.purchasing.contract import WORKFLOW_NAME, Message, ProcureToPayInput
    from domain.purchasing.models import (
        CancelPurchase,
        DocumentAnswer,
        GoodsReceipt,
        PurchaseResult,
        PurchaseStatus,
        RefusedDocument,
        SupplierConfirmation,
        SupplierInvoice,
    )

# Not in the contract: the test names the exception review a person should decide.
REVIEW = "test_review"


@workflow.defn(name=WORKFLOW_NAME)
class StandInPurchase:
    @workflow.init
    def __init__(self, given: ProcureToPayInput) -> None:
        req = given.requisition
        self.lines = {line.line_no for line in req.lines}
        self.result = PurchaseResult(
            requisition_id=req.requisition_id,
            supplier_id=req.supplier_id,
            currency=req.currency,
            total=req.total,
            status=PurchaseStatus.AWAITING_CONFIRMATION,
        )

    @workflow.run
    async def run(self, given: ProcureToPayInput) -> PurchaseResult:
        await workflow.wait_condition(lambda: self.result.status is PurchaseStatus.CANCELLED)
        return self.result

    @workflow.query(name=Message.STATUS)
    def status(self) -> PurchaseResult:
        return self.result

    @workflow.signal(name=Message.SUPPLIER_CONFIRMED)
    def confirmed(self, confirmation: SupplierConfirmation) -> None:
        if self.result.confirmed is None:
            self.result.confirmed = confirmation
            self.result.status = PurchaseStatus.RECEIVING

    @workflow.signal(name=REVIEW)
    def review(self, approval_id: str) -> None:
        self.result.pending_review = approval_id
        self.result.status = PurchaseStatus.IN_EXCEPTION

    @workflow.update(name=Message.GOODS_RECEIVED)
    def goods_received(self, receipt: GoodsReceipt) -> DocumentAnswer:
        self.result.receipts.append(receipt)
        return DocumentAnswer(accepted=True, status=self.result.status.value)

    @goods_received.validator
    def _receipt_fits(self, receipt: GoodsReceipt) -> None:
        if unknown := [r.line_no for r in receipt.lines if r.line_no not in self.lines]:
            raise ApplicationError(f"receipt {receipt.receipt_id}: no line {unknown[0]} ordered")

    @workflow.update(name=Message.INVOICE_RECEIVED)
    def invoice_received(self, invoice: SupplierInvoice) -> DocumentAnswer:
        if any(i.reference == invoice.reference for i in self.result.invoices):
            reason = f"duplicate of {invoice.reference}"
            self.result.refused.append(
                RefusedDocument(
                    reference=invoice.reference,
                    kind=invoice.kind.value,
                    reason=reason,
                    at=workflow.now(),
                )
            )
            return DocumentAnswer(accepted=False, reason=reason, status=self.result.status.value)
        self.result.invoices.append(invoice)
        return DocumentAnswer(accepted=True, status=self.result.status.value)

    @invoice_received.validator
    def _invoice_fits(self, invoice: SupplierInvoice) -> None:
        if invoice.supplier_id != self.result.supplier_id:
            raise ApplicationError(
                f"invoice {invoice.reference} is from {invoice.supplier_id}, "
                f"not the purchase's supplier {self.result.supplier_id}"
            )

    @workflow.update(name=Message.CANCEL)
    def cancel(self, request: CancelPurchase) -> PurchaseResult:
        self.result.status = PurchaseStatus.CANCELLED
        self.result.reason = f"cancelled by {request.requested_by}: {request.reason}"
        return self.result

    @cancel.validator
    def _cancel_allowed(self, request: CancelPurchase) -> None:
        if not request.requested_by.strip():
            raise ApplicationError("requested_by must not be empty")
