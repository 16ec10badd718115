"""One request model per procure-to-pay step: what the workflow asks an activity to do.

Activities derive each write's idempotency key from the requisition id and the step (and the
document for receipts, invoices and payments), so a retried or replayed step is recognised.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel

from domain.purchasing.models import GoodsReceipt, PaymentDue, Requisition, SupplierInvoice


class SupplierCheck(BaseModel):
    requisition_id: str
    supplier_id: str


class PurchaseOrderRequest(BaseModel):
    requisition: Requisition


class PurchaseOrderRef(BaseModel):
    """Acts on the purchase order (confirm, remind, cancel)."""

    requisition_id: str
    purchase_order_id: str
    supplier_reference: str = ""  # for a confirmation
    attempt: int = 1  # a reminder's number: each reminder is its own request


class ReceiptRequest(BaseModel):
    purchase_order_id: str
    receipt: GoodsReceipt


class InvoiceRequest(BaseModel):
    purchase_order_id: str
    invoice: SupplierInvoice


class PurchaseUndo(BaseModel):
    """Undo an earlier step: `record_id` is what that step created in the ERP."""

    requisition_id: str
    purchase_order_id: str
    record_id: str


class SupplierPaymentRequest(BaseModel):
    requisition_id: str
    purchase_order_id: str
    supplier_id: str
    due: PaymentDue


class PurchaseNotice(BaseModel):
    """Tell the people holding `role` about a purchase (an overdue confirmation)."""

    requisition_id: str
    role: str
    recipients: list[str]
    message: str
    idempotency_key: str


class StepName(StrEnum):
    """Activity names: the workflow calls them by name, the activities register under them."""

    CHECK_SUPPLIER = "check_supplier"
    CREATE_PURCHASE_ORDER = "create_purchase_order"
    CONFIRM_PURCHASE_ORDER = "confirm_purchase_order"
    REMIND_SUPPLIER = "remind_supplier"
    CANCEL_PURCHASE_ORDER = "cancel_purchase_order"
    RECORD_GOODS_RECEIPT = "record_goods_receipt"
    RETURN_GOODS = "return_goods"
    POST_SUPPLIER_INVOICE = "post_supplier_invoice"
    CANCEL_SUPPLIER_INVOICE = "cancel_supplier_invoice"
    PAY_SUPPLIER = "pay_supplier"
    NOTIFY_PURCHASING = "notify_purchasing"
