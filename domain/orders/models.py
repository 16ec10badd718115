"""The order as the business sees it: what a customer asked for, and what came of it."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from domain.approvals.models import ApprovalOutcome


class PaymentMethod(StrEnum):
    CARD = "card"
    INVOICE = "invoice"
    BANK_TRANSFER = "bank_transfer"


class Address(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    street: str
    city: str
    postal_code: str
    country: str = Field(description="ISO 3166-1 alpha-2 code, e.g. DE")


class Customer(BaseModel):
    model_config = ConfigDict(frozen=True)

    customer_id: str
    name: str
    email: str
    company: str | None = None


class OrderLine(BaseModel):
    model_config = ConfigDict(frozen=True)

    sku: str
    quantity: int
    unit_price: Decimal

    @property
    def amount(self) -> Decimal:
        return self.unit_price * self.quantity


class Order(BaseModel):
    """An order as it arrives. Types are checked on arrival; business rules in `order_rules`."""

    model_config = ConfigDict(frozen=True)

    order_id: str
    customer: Customer
    lines: list[OrderLine]
    currency: str
    shipping_address: Address
    payment_method: PaymentMethod
    # A card token or bank reference; never the card number itself.
    payment_reference: str | None = None

    @property
    def total(self) -> Decimal:
        return sum((line.amount for line in self.lines), Decimal("0"))


class OrderStatus(StrEnum):
    """Where an order stands; also the OrderStatus search attribute in the Web UI."""

    RECEIVED = "Received"
    CHECKING = "Checking"
    AWAITING_APPROVAL = "AwaitingApproval"
    PROCESSING = "Processing"
    AWAITING_DELIVERY = "AwaitingDelivery"
    DELIVERY_OVERDUE = "DeliveryOverdue"
    INVOICING = "Invoicing"
    COMPLETED = "Completed"
    REJECTED = "Rejected"
    COMPENSATING = "Compensating"
    COMPENSATED = "Compensated"
    CANCELLED = "Cancelled"
    NEEDS_ATTENTION = "NeedsAttention"
    INVALID = "Invalid"

    @property
    def is_terminal(self) -> bool:
        return self in _TERMINAL


_TERMINAL = {
    OrderStatus.COMPLETED,
    OrderStatus.REJECTED,
    OrderStatus.COMPENSATED,
    OrderStatus.CANCELLED,
    OrderStatus.NEEDS_ATTENTION,
    OrderStatus.INVALID,
}


class StepRecord(BaseModel):
    """One step done (or undone) for an order, with when it happened."""

    step: str
    at: datetime
    detail: str = ""


class OrderResult(BaseModel):
    order_id: str
    status: OrderStatus
    reason: str | None = None
    steps: list[StepRecord] = Field(default_factory=list)
    compensated: list[StepRecord] = Field(default_factory=list)
    sales_order_id: str | None = None
    payment_id: str | None = None
    shipment_id: str | None = None
    invoice_id: str | None = None
    deal_id: str | None = None
    # The Approval process's outcome and audit trail, when the order needed one.
    approval: ApprovalOutcome | None = None
