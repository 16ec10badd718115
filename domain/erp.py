"""What the business asks of an ERP, whichever ERP it is (reference service, Tryton, ...).

Every write takes an idempotency key built from business keys (`domain.idempotency.step_key`):
the same key twice means the same request, and the ERP must answer it without doing it again.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Protocol

from pydantic import BaseModel

from domain.credit import CreditStatus
from domain.orders.models import Address, Order, OrderLine, PaymentMethod
from domain.purchasing.models import (
    GoodsReceipt,
    PaymentDue,
    PurchaseOrder,
    Requisition,
    Supplier,
    SupplierInvoice,
    SupplierPayment,
)


class StockLine(BaseModel):
    sku: str
    requested: int
    available: int

    @property
    def short(self) -> bool:
        return self.available < self.requested


class StockStatus(BaseModel):
    lines: list[StockLine]

    @property
    def shortages(self) -> list[StockLine]:
        return [line for line in self.lines if line.short]


class Reservation(BaseModel):
    reservation_id: str
    order_id: str
    status: str  # active | released


class SalesOrderStatus(StrEnum):
    OPEN = "open"
    CANCELLED = "cancelled"
    INVOICED = "invoiced"


class SalesOrder(BaseModel):
    sales_order_id: str
    order_id: str
    status: SalesOrderStatus
    total: Decimal
    currency: str


class Payment(BaseModel):
    payment_id: str
    order_id: str
    amount: Decimal
    currency: str
    status: str  # captured | refunded


class ShipmentStatus(StrEnum):
    CREATED = "created"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"
    # Cancelling a delivered shipment asks the customer to send the goods back.
    RETURN_REQUESTED = "return_requested"


class Shipment(BaseModel):
    shipment_id: str
    order_id: str
    status: ShipmentStatus
    tracking_number: str


class Invoice(BaseModel):
    invoice_id: str
    order_id: str
    amount: Decimal
    currency: str
    status: str  # posted | credited


class OrderChange(BaseModel):
    """One sales order as the change feed reports it (read by the ERP→CRM sync)."""

    order_id: str
    customer_id: str
    customer_name: str
    order_date: datetime
    status: SalesOrderStatus
    total: Decimal
    currency: str
    updated_at: datetime


class CustomerChange(BaseModel):
    customer_id: str
    name: str
    email: str
    company: str | None
    credit_limit: Decimal
    updated_at: datetime


class OrderChangePage(BaseModel):
    items: list[OrderChange]
    # Pass back to get the next page; None when this page reached the end of the feed.
    next_cursor: str | None


class CustomerChangePage(BaseModel):
    items: list[CustomerChange]
    next_cursor: str | None


class ErpReceiptStatus(StrEnum):
    RECORDED = "recorded"
    RETURNED = "returned"  # undone: the goods went back to the supplier


class ErpReceipt(BaseModel):
    """A goods receipt (or return) as the ERP recorded it."""

    erp_receipt_id: str
    purchase_order_id: str
    receipt_id: str  # the warehouse's number
    status: ErpReceiptStatus


class ErpSupplierInvoiceStatus(StrEnum):
    POSTED = "posted"
    CANCELLED = "cancelled"  # undone: reversed in the books (the supplier is asked to credit it)


class ErpSupplierInvoice(BaseModel):
    erp_invoice_id: str
    purchase_order_id: str
    supplier_id: str
    reference: str
    kind: str  # invoice | credit_note
    net: Decimal
    tax: Decimal
    currency: str
    status: ErpSupplierInvoiceStatus


class PurchaseChange(BaseModel):
    """One purchase order as the change feed reports it (read by reports and the drill)."""

    purchase_order_id: str
    requisition_id: str
    supplier_id: str
    status: str
    total: Decimal
    received: Decimal  # net value received at order prices
    invoiced: Decimal  # net value invoiced, less credit notes
    paid: Decimal
    currency: str
    updated_at: datetime


class PurchaseChangePage(BaseModel):
    items: list[PurchaseChange]
    next_cursor: str | None


class PurchasingPort(Protocol):
    """Purchasing (procure-to-pay) on an ERP. Writes are idempotent per key, as `ErpPort`'s;
    the ERP refuses a supplier invoice whose supplier and reference it already holds
    (`ConflictError`). Raises `domain.errors.IntegrationError` subclasses; never retries."""

    async def get_supplier(self, supplier_id: str) -> Supplier: ...

    async def create_purchase_order(
        self, requisition: Requisition, *, idempotency_key: str
    ) -> PurchaseOrder: ...

    async def confirm_purchase_order(
        self, purchase_order_id: str, supplier_reference: str, *, idempotency_key: str
    ) -> PurchaseOrder: ...

    async def remind_supplier(
        self, purchase_order_id: str, *, idempotency_key: str
    ) -> PurchaseOrder: ...

    async def cancel_purchase_order(
        self, purchase_order_id: str, *, idempotency_key: str
    ) -> PurchaseOrder: ...

    async def record_goods_receipt(
        self, purchase_order_id: str, receipt: GoodsReceipt, *, idempotency_key: str
    ) -> ErpReceipt: ...

    async def return_goods(self, erp_receipt_id: str, *, idempotency_key: str) -> ErpReceipt: ...

    async def post_supplier_invoice(
        self, purchase_order_id: str, invoice: SupplierInvoice, *, idempotency_key: str
    ) -> ErpSupplierInvoice: ...

    async def cancel_supplier_invoice(
        self, erp_invoice_id: str, *, idempotency_key: str
    ) -> ErpSupplierInvoice: ...

    async def pay_supplier(
        self, purchase_order_id: str, supplier_id: str, due: PaymentDue, *, idempotency_key: str
    ) -> SupplierPayment: ...

    async def purchase_changes(
        self, updated_since: datetime | None, cursor: str | None, limit: int
    ) -> PurchaseChangePage: ...


class ErpPort(PurchasingPort, Protocol):
    """Sales, stock, invoicing and feeds; purchasing from `PurchasingPort`. Raises
    `domain.errors.IntegrationError` subclasses; never retries by itself."""

    async def get_credit(self, customer_id: str) -> CreditStatus: ...

    async def check_stock(self, lines: list[OrderLine]) -> StockStatus: ...

    async def reserve_stock(
        self, order_id: str, lines: list[OrderLine], *, idempotency_key: str
    ) -> Reservation: ...

    async def release_stock(self, reservation_id: str, *, idempotency_key: str) -> Reservation: ...

    async def create_sales_order(self, order: Order, *, idempotency_key: str) -> SalesOrder: ...

    async def cancel_sales_order(
        self, sales_order_id: str, *, idempotency_key: str
    ) -> SalesOrder: ...

    async def capture_payment(
        self,
        order_id: str,
        amount: Decimal,
        currency: str,
        method: PaymentMethod,
        reference: str | None,
        *,
        idempotency_key: str,
    ) -> Payment: ...

    async def refund_payment(self, payment_id: str, *, idempotency_key: str) -> Payment: ...

    async def create_shipment(
        self,
        order_id: str,
        sales_order_id: str,
        address: Address,
        lines: list[OrderLine],
        *,
        idempotency_key: str,
    ) -> Shipment: ...

    async def confirm_delivery(
        self, shipment_id: str, delivered_at: datetime, *, idempotency_key: str
    ) -> Shipment: ...

    async def cancel_shipment(self, shipment_id: str, *, idempotency_key: str) -> Shipment: ...

    async def create_invoice(
        self, order_id: str, sales_order_id: str, *, idempotency_key: str
    ) -> Invoice: ...

    async def credit_invoice(self, invoice_id: str, *, idempotency_key: str) -> Invoice: ...

    async def order_changes(
        self, updated_since: datetime | None, cursor: str | None, limit: int
    ) -> OrderChangePage: ...

    async def customer_changes(
        self, updated_since: datetime | None, cursor: str | None, limit: int
    ) -> CustomerChangePage: ...

    async def aclose(self) -> None: ...
