"""A purchase's documents in the ERP and what they come to: each receipt and invoice taken is
recorded (its undo registered), the recorded ones are matched three ways, and what the match
makes payable is paid once its due date came. A base class of ProcureToPay.
"""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.purchasing.erp import DUPLICATE_INVOICE, PurchasingActivities
    from domain.purchasing.matching import three_way_match
    from domain.purchasing.models import (
        GoodsReceipt,
        MatchReport,
        PaymentDue,
        ReceiptKind,
        SupplierInvoice,
    )
    from domain.purchasing.policy import PurchasingPolicy
    from domain.purchasing.settlement import outstanding, payments_due
    from domain.purchasing.steps import (
        InvoiceRequest,
        PurchaseUndo,
        ReceiptRequest,
        SupplierPaymentRequest,
    )
    from workflows.failures import reason
    from workflows.purchasing.calls import PurchaseCalls
    from workflows.purchasing.payments import is_due

P = PurchasingActivities


class PurchaseDocuments(PurchaseCalls):
    _policy: PurchasingPolicy
    _po: str
    _paying: bool
    _recorded: list[GoodsReceipt]  # what the ERP holds: the match reads these only
    _posted: list[SupplierInvoice]
    _paid: set[str]  # the payments' keys (PaymentDue.key) asked of the ERP

    def refuse(self, invoice: SupplierInvoice, reason: str) -> None:
        raise NotImplementedError  # PurchaseMessages

    async def _record_next(self) -> bool:
        """Records the next document taken in the ERP; False when none is waiting."""
        result = self._track.result
        if len(result.receipts) > len(self._recorded):
            receipt = result.receipts[len(self._recorded)]
            request = ReceiptRequest(purchase_order_id=self._po, receipt=receipt)
            if receipt.kind is ReceiptKind.RECEIPT:
                recorded = await self._write(
                    P.record_goods_receipt,
                    request,
                    lambda r: ("return goods", P.return_goods, self._undo(r.erp_receipt_id)),
                )
            else:  # goods already went back: nothing to undo
                recorded = await self._write(P.record_goods_receipt, request)
            self._recorded.append(receipt)
            self._announce.goods_received(receipt, recorded)
            return True
        if len(result.invoices) > len(self._posted):
            invoice = result.invoices[len(self._posted)]
            try:
                posted = await self._write(
                    P.post_supplier_invoice,
                    InvoiceRequest(purchase_order_id=self._po, invoice=invoice),
                    lambda r: (
                        "cancel supplier invoice",
                        P.cancel_supplier_invoice,
                        self._undo(r.erp_invoice_id),
                    ),
                    tolerate=DUPLICATE_INVOICE,
                )
            except ActivityError as err:
                # The ERP holds this supplier's reference already (another purchase's): refused.
                result.invoices.remove(invoice)
                self.refuse(invoice, f"the ERP refused it: {reason(err)}")
                return True
            self._posted.append(invoice)
            self._track.add_key(f"invoice:{invoice.reference}")
            self._announce.invoice_received(invoice, posted)
            return True
        return False

    def _match(self) -> MatchReport:
        report = three_way_match(self._req, self._recorded, self._posted, self._policy.tolerances)
        self._track.result.match = report
        return report

    async def _pay_due(self, report: MatchReport) -> bool:
        """Pays one payment due today (True), arming a timer for each due later (False)."""
        for due in self._due(report):
            if due.key in self._paid:
                # Paid, yet due again (the ERP answered with other lines than asked): never
                # again, the purchase waits in AwaitingPayment for a person instead of looping.
                workflow.logger.warning("payment %s was made already", due.key)
                continue
            if not is_due(due.due_on):
                self._timers.arm(due.due_on)
                continue
            request = SupplierPaymentRequest(
                requisition_id=self._req.requisition_id,
                purchase_order_id=self._po,
                supplier_id=self._req.supplier_id,
                due=due,
            )
            self._paying = True  # a cancellation is refused from now on
            try:
                payment = await self._write(P.pay_supplier, request)
            finally:
                self._paying = False
            self._track.result.payments.append(payment)
            self._paid.add(due.key)
            self._announce.paid(payment)
            return True
        return False

    def _due(self, report: MatchReport) -> list[PaymentDue]:
        result = self._track.result
        return payments_due(self._req, self._posted, report, result.decisions, result.payments)

    def _outstanding(self, report: MatchReport) -> list[str]:
        result = self._track.result
        return outstanding(self._req, report, self._posted, result.decisions, result.payments)

    def _undo(self, record_id: str) -> PurchaseUndo:
        rid, po = self._req.requisition_id, self._po or record_id
        return PurchaseUndo(requisition_id=rid, purchase_order_id=po, record_id=record_id)
