"""Request and response bodies of the ERP API.

Responses extend the models of `domain.erp`, so a client parsing with the domain model gets
exactly the contract and ignores the operator-facing extras (lines, timestamps).
Money travels as decimal strings.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from pydantic import BaseModel, Field

from domain.erp import Invoice, Payment, Reservation, SalesOrder, Shipment
from domain.orders.models import Address, PaymentMethod

_ID = Field(min_length=1, max_length=64)
_CURRENCY = Field(pattern=r"^[A-Z]{3}$", description="ISO 4217 code, e.g. EUR")


class Item(BaseModel):
    """A quantity of one SKU; any `unit_price` sent along is ignored."""

    sku: str = _ID
    quantity: int = Field(gt=0, le=1_000_000)


class PricedItem(BaseModel):
    sku: str
    quantity: int
    unit_price: Decimal


# --- requests ------------------------------------------------------------------------------


class ReservationRequest(BaseModel):
    order_id: str = _ID
    lines: list[Item] = Field(min_length=1)


class PaymentRequest(BaseModel):
    order_id: str = _ID
    amount: Decimal = Field(gt=0)
    currency: str = _CURRENCY
    method: PaymentMethod
    reference: str | None = Field(None, max_length=128, description="card token or bank ref")


class ShipmentRequest(BaseModel):
    order_id: str = _ID
    sales_order_id: str = _ID
    address: Address
    lines: list[Item] = Field(min_length=1)


class DeliveryRequest(BaseModel):
    delivered_at: datetime


class InvoiceRequest(BaseModel):
    order_id: str = _ID
    sales_order_id: str = _ID


class GenerateRequest(BaseModel):
    customers: int = Field(0, ge=0, le=1_000_000)
    orders: int = Field(0, ge=0, le=2_000_000)
    suppliers: int = Field(0, ge=0, le=100_000)
    seed: int = 0


# --- responses -----------------------------------------------------------------------------


class StockLevel(BaseModel):
    sku: str
    on_hand: int
    reserved: int
    available: int


class StockLevels(BaseModel):
    items: list[StockLevel]


class Product(StockLevel):
    name: str
    unit_price: Decimal


class ReservationRecord(Reservation):
    lines: list[Item]
    # The shipment that took the reserved goods out of the warehouse, if any.
    shipment_id: str | None
    created_at: datetime
    updated_at: datetime


class SalesOrderRecord(SalesOrder):
    customer_id: str
    lines: list[PricedItem]
    order_date: datetime
    updated_at: datetime


class PaymentRecord(Payment):
    method: PaymentMethod
    reference: str | None
    created_at: datetime
    updated_at: datetime


class ShipmentRecord(Shipment):
    sales_order_id: str
    address: Address
    lines: list[Item]
    delivered_at: datetime | None
    created_at: datetime
    updated_at: datetime


class InvoiceRecord(Invoice):
    sales_order_id: str
    created_at: datetime
    updated_at: datetime


class ReservationList(BaseModel):
    items: list[ReservationRecord]


class SalesOrderList(BaseModel):
    items: list[SalesOrderRecord]


class PaymentList(BaseModel):
    items: list[PaymentRecord]


class ShipmentList(BaseModel):
    items: list[ShipmentRecord]


class InvoiceList(BaseModel):
    items: list[InvoiceRecord]


class Generated(BaseModel):
    customers: int
    orders: int
    suppliers: int = 0
    seconds: float


class ErrorDetail(BaseModel):
    code: str
    message: str


class ErrorBody(BaseModel):
    error: ErrorDetail


def money(amount: Decimal) -> Decimal:
    """Amounts are kept and answered in cents: `Decimal("99.8")` → `Decimal("99.80")`."""
    return amount.quantize(Decimal("0.01"))
