"""What suppliers, the warehouse and people tell a running purchase, and what they may ask it.

The purchase's query, signal and updates (names from its contract), as a base class of
ProcureToPay, so that the workflow file reads as the process. Validators refuse a bad document
with the reason (nothing enters the history); a duplicate invoice is answered and kept in
`refused` (the evidence); an accepted document is recorded in the ERP by the process.
"""

from __future__ import annotations

import asyncio

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain.purchasing.contract import Message
    from domain.purchasing.lifecycle import cancel_problem, document_gate
    from domain.purchasing.models import (
        CancelPurchase,
        DocumentAnswer,
        DocumentKind,
        GoodsReceipt,
        PurchaseResult,
        RefusedDocument,
        Requisition,
        SupplierConfirmation,
        SupplierInvoice,
    )
    from domain.purchasing.rules import (
        duplicate_problem,
        invoice_problem,
        normalise_reference,
        receipt_problem,
        same_receipt,
    )
    from workflows.purchasing.tracking import PurchaseTracker

# A sender with ever new documents must not grow the purchase's state without bound.
MAX_DOCUMENTS = 200


class PurchaseMessages:
    _req: Requisition
    _track: PurchaseTracker
    _confirmation: SupplierConfirmation | None
    _cancel: CancelPurchase | None
    _stop: asyncio.Event
    _paying: bool

    @workflow.query(name=Message.STATUS)
    def status(self) -> PurchaseResult:
        return self._track.result

    @workflow.signal(name=Message.SUPPLIER_CONFIRMED)
    def supplier_confirmed(self, confirmation: SupplierConfirmation) -> None:
        if confirmation.requisition_id != self._req.requisition_id:
            workflow.logger.warning(
                "ignored a confirmation for requisition %s", confirmation.requisition_id
            )
        elif self._confirmation is None:
            self._confirmation = confirmation

    @workflow.update(name=Message.GOODS_RECEIVED)
    def goods_received(self, receipt: GoodsReceipt) -> DocumentAnswer:
        result = self._track.result
        if any(
            same_receipt(r, receipt) for r in result.receipts if r.receipt_id == receipt.receipt_id
        ):
            return self._answer(True, f"receipt {receipt.receipt_id} was already taken")
        result.receipts.append(receipt)
        self._track.record(f"{receipt.kind.value} {receipt.receipt_id}", "taken")
        return self._answer(True)

    @goods_received.validator
    def _check_receipt(self, receipt: GoodsReceipt) -> None:
        earlier = self._track.result.receipts
        _raise(self._gate(len(earlier)) or receipt_problem(receipt, self._req, earlier))

    @workflow.update(name=Message.INVOICE_RECEIVED)
    def invoice_received(self, invoice: SupplierInvoice) -> DocumentAnswer:
        result = self._track.result
        if problem := duplicate_problem(invoice, result.invoices):
            self.refuse(invoice, problem)
            return self._answer(False, problem)
        result.invoices.append(invoice)
        self._track.record(f"{invoice.kind.value} {invoice.reference}", "taken")
        return self._answer(True)

    @invoice_received.validator
    def _check_invoice(self, invoice: SupplierInvoice) -> None:
        result = self._track.result
        taken = len(result.invoices) + len(result.refused)
        _raise(
            self._gate(taken)
            or invoice_problem(invoice, self._req)
            or _credited_problem(invoice, result.invoices)
        )

    @workflow.update(name=Message.CANCEL)
    def cancel(self, request: CancelPurchase) -> PurchaseResult:
        self._request_stop(request)
        return self._track.result

    @cancel.validator
    def _check_cancel(self, request: CancelPurchase) -> None:
        result = self._track.result
        _raise(
            cancel_problem(
                request,
                self._req.requisition_id,
                result.status,
                len(result.payments),
                self._paying,
                self._cancel,
            )
        )

    def refuse(self, invoice: SupplierInvoice, reason: str) -> None:
        """Keeps a refused invoice as evidence (a duplicate, or one the ERP refused)."""
        self._track.result.refused.append(
            RefusedDocument(
                reference=invoice.reference,
                kind=invoice.kind.value,
                reason=reason,
                at=workflow.now(),
            )
        )
        self._track.record(f"refused {invoice.kind.value} {invoice.reference}", reason)

    def _gate(self, taken: int) -> str | None:
        rid, result = self._req.requisition_id, self._track.result
        confirmed = result.confirmed is not None
        if problem := document_gate(rid, result.status, confirmed, self._cancel is not None):
            return problem
        if taken >= MAX_DOCUMENTS:
            return f"purchase {rid} takes at most {MAX_DOCUMENTS} documents of a kind"
        return None

    def _answer(self, accepted: bool, reason: str = "") -> DocumentAnswer:
        status = self._track.result.status.value
        return DocumentAnswer(accepted=accepted, reason=reason, status=status)

    def _request_stop(self, request: CancelPurchase) -> None:
        if self._cancel is None:
            self._cancel = request
            self._stop.set()


def _credited_problem(invoice: SupplierInvoice, taken: list[SupplierInvoice]) -> str | None:
    """A credit note corrects an invoice this purchase holds (the purchase's own state, so
    checked here rather than in the document rules)."""
    if invoice.kind is not DocumentKind.CREDIT_NOTE:
        return None
    held = {normalise_reference(i.reference) for i in taken if i.kind is DocumentKind.INVOICE}
    if normalise_reference(invoice.credits_reference or "") not in held:
        known = ", ".join(i.reference for i in taken if i.kind is DocumentKind.INVOICE) or "none"
        return (
            f"credit note {invoice.reference} credits {invoice.credits_reference}, which this "
            f"purchase does not hold (its invoices: {known})"
        )
    return None


def _raise(problem: str | None) -> None:
    if problem is not None:
        raise ValueError(problem)
