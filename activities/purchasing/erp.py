"""Procure-to-pay steps against the ERP: one call each, keyed by the requisition, the step and
(for a step per document) the document, so a retried or replayed step is the same request."""

from __future__ import annotations

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.calls import call
from activities.notifications import Notifier
from domain.erp import ErpReceipt, ErpSupplierInvoice, PurchasingPort
from domain.errors import ConflictError
from domain.idempotency import step_key
from domain.purchasing.models import PurchaseOrder, Supplier, SupplierPayment
from domain.purchasing.steps import (
    InvoiceRequest,
    PurchaseNotice,
    PurchaseOrderRef,
    PurchaseOrderRequest,
    PurchaseUndo,
    ReceiptRequest,
    StepName,
    SupplierCheck,
    SupplierPaymentRequest,
)

# The ERP already holds an invoice with this supplier and reference (another purchase's, or
# a spelling of the reference the purchase's own duplicate check did not catch): the workflow
# refuses the document instead of failing the purchase.
DUPLICATE_INVOICE = "DuplicateSupplierInvoice"


def _key(requisition_id: str, step: StepName, document: str | None = None) -> str:
    return step_key(requisition_id, step if document is None else f"{step}:{document}")


class PurchasingActivities:
    def __init__(self, erp: PurchasingPort, notifier: Notifier | None = None) -> None:
        self.erp = erp
        self.notifier = notifier or Notifier()

    @activity.defn(name=StepName.CHECK_SUPPLIER)
    async def check_supplier(self, req: SupplierCheck) -> Supplier:
        return await call(self.erp.get_supplier(req.supplier_id))

    @activity.defn(name=StepName.CREATE_PURCHASE_ORDER)
    async def create_purchase_order(self, req: PurchaseOrderRequest) -> PurchaseOrder:
        key = _key(req.requisition.requisition_id, StepName.CREATE_PURCHASE_ORDER)
        return await call(self.erp.create_purchase_order(req.requisition, idempotency_key=key))

    @activity.defn(name=StepName.CONFIRM_PURCHASE_ORDER)
    async def confirm_purchase_order(self, req: PurchaseOrderRef) -> PurchaseOrder:
        key = _key(req.requisition_id, StepName.CONFIRM_PURCHASE_ORDER)
        return await call(
            self.erp.confirm_purchase_order(
                req.purchase_order_id, req.supplier_reference, idempotency_key=key
            )
        )

    @activity.defn(name=StepName.REMIND_SUPPLIER)
    async def remind_supplier(self, req: PurchaseOrderRef) -> PurchaseOrder:
        key = _key(req.requisition_id, StepName.REMIND_SUPPLIER, str(req.attempt))
        return await call(self.erp.remind_supplier(req.purchase_order_id, idempotency_key=key))

    @activity.defn(name=StepName.CANCEL_PURCHASE_ORDER)
    async def cancel_purchase_order(self, req: PurchaseUndo) -> PurchaseOrder:
        key = _key(req.requisition_id, StepName.CANCEL_PURCHASE_ORDER)
        return await call(self.erp.cancel_purchase_order(req.record_id, idempotency_key=key))

    @activity.defn(name=StepName.RECORD_GOODS_RECEIPT)
    async def record_goods_receipt(self, req: ReceiptRequest) -> ErpReceipt:
        receipt = req.receipt
        key = _key(receipt.requisition_id, StepName.RECORD_GOODS_RECEIPT, receipt.receipt_id)
        return await call(
            self.erp.record_goods_receipt(req.purchase_order_id, receipt, idempotency_key=key)
        )

    @activity.defn(name=StepName.RETURN_GOODS)
    async def return_goods(self, req: PurchaseUndo) -> ErpReceipt:
        key = _key(req.requisition_id, StepName.RETURN_GOODS, req.record_id)
        return await call(self.erp.return_goods(req.record_id, idempotency_key=key))

    @activity.defn(name=StepName.POST_SUPPLIER_INVOICE)
    async def post_supplier_invoice(self, req: InvoiceRequest) -> ErpSupplierInvoice:
        invoice = req.invoice
        key = _key(invoice.requisition_id, StepName.POST_SUPPLIER_INVOICE, invoice.reference)
        posting = self.erp.post_supplier_invoice(
            req.purchase_order_id, invoice, idempotency_key=key
        )
        try:
            return await call(posting)
        except ApplicationError as err:
            if isinstance(err.__cause__, ConflictError):
                raise ApplicationError(
                    err.message, type=DUPLICATE_INVOICE, non_retryable=True
                ) from err
            raise

    @activity.defn(name=StepName.CANCEL_SUPPLIER_INVOICE)
    async def cancel_supplier_invoice(self, req: PurchaseUndo) -> ErpSupplierInvoice:
        key = _key(req.requisition_id, StepName.CANCEL_SUPPLIER_INVOICE, req.record_id)
        return await call(self.erp.cancel_supplier_invoice(req.record_id, idempotency_key=key))

    @activity.defn(name=StepName.PAY_SUPPLIER)
    async def pay_supplier(self, req: SupplierPaymentRequest) -> SupplierPayment:
        # One key per invoice and lines: the same payment asked twice is paid once.
        key = _key(req.requisition_id, StepName.PAY_SUPPLIER, req.due.key)
        return await call(
            self.erp.pay_supplier(
                req.purchase_order_id, req.supplier_id, req.due, idempotency_key=key
            )
        )

    @activity.defn(name=StepName.NOTIFY_PURCHASING)
    async def notify_purchasing(self, notice: PurchaseNotice) -> PurchaseNotice:
        await self.notifier.send("purchase notice", notice)
        return notice

    def all(self) -> list[object]:
        return [
            self.check_supplier,
            self.create_purchase_order,
            self.confirm_purchase_order,
            self.remind_supplier,
            self.cancel_purchase_order,
            self.record_goods_receipt,
            self.return_goods,
            self.post_supplier_invoice,
            self.cancel_supplier_invoice,
            self.pay_supplier,
            self.notify_purchasing,
        ]
