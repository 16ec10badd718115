"""Request and response bodies of the ERP's purchasing API.

As in `schemas`: requests are the domain's documents plus the purchase order they belong to,
responses extend the models of `domain.erp` and `domain.purchasing.models` (a client parsing
with the domain model gets exactly the contract). Money travels as decimal strings.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from pydantic import BaseModel, Field

from domain.erp import ErpReceipt, ErpSupplierInvoice
from domain.purchasing.models import (
    GoodsReceipt,
    InvoiceLine,
    PaymentDue,
    PurchaseOrder,
    ReceiptKind,
    ReceiptLine,
    RequisitionLine,
    Supplier,
    SupplierInvoice,
    SupplierPayment,
)

_ID = Field(min_length=1, max_length=64)

# --- requests ------------------------------------------------------------------------------


class ConfirmRequest(BaseModel):
    supplier_reference: str = Field("", max_length=128, description="the supplier's number")


class GoodsReceiptRequest(GoodsReceipt):
    purchase_order_id: str = _ID


class SupplierInvoiceRequest(SupplierInvoice):
    purchase_order_id: str = _ID


class SupplierPaymentRequest(PaymentDue):
    purchase_order_id: str = _ID
    supplier_id: str = _ID
    amount: Decimal = Field(gt=0)


# --- responses -----------------------------------------------------------------------------


class SupplierRecord(Supplier):
    updated_at: datetime


class SupplierList(BaseModel):
    items: list[SupplierRecord]
    count: int


class PurchaseOrderRecord(PurchaseOrder):
    lines: list[RequisitionLine]
    reminders: int  # reminders sent to the supplier (one per idempotency key)
    received: Decimal  # net value received at order prices (returns subtract)
    invoiced: Decimal  # net invoiced, less credit notes
    paid: Decimal
    created_at: datetime
    updated_at: datetime


class ErpReceiptRecord(ErpReceipt):
    requisition_id: str
    kind: ReceiptKind
    lines: list[ReceiptLine]
    received_at: datetime | None
    created_at: datetime
    updated_at: datetime


class ErpSupplierInvoiceRecord(ErpSupplierInvoice):
    requisition_id: str
    issued_on: date
    due_on: date
    lines: list[InvoiceLine]
    credits_reference: str | None
    created_at: datetime
    updated_at: datetime


class SupplierPaymentRecord(SupplierPayment):
    requisition_id: str
    supplier_id: str
    erp_invoice_id: str
    tax: Decimal
    due_on: date
    credit_references: list[str]
    created_at: datetime


# Lists carry their count, so that a test or an operator can say "exactly one" in one look.


class PurchaseOrderList(BaseModel):
    items: list[PurchaseOrderRecord]
    count: int


class ErpReceiptList(BaseModel):
    items: list[ErpReceiptRecord]
    count: int


class ErpSupplierInvoiceList(BaseModel):
    items: list[ErpSupplierInvoiceRecord]
    count: int


class SupplierPaymentList(BaseModel):
    items: list[SupplierPaymentRecord]
    count: int


class PurchaseDocuments(BaseModel):
    """How many of each document a requisition has in the ERP, whatever their status."""

    requisition_id: str
    purchase_orders: int
    receipts: int
    invoices: int  # invoices and credit notes
    payments: int
    reminders: int
