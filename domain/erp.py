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


class ErpPort(Protocol):
    """Raises `domain.errors.IntegrationError` subclasses; never retries by itself."""

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
