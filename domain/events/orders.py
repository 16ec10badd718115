"""Order-to-cash's business events: their types and the data each one carries.

Source `/continuum/orders`, subject the order id. The data holds business keys, amounts and
the customer id, never a personal field (no name, e-mail or address: a subscriber that needs
them asks the ERP by customer id), nor free text a person typed (a rejection's comment): why an
order stopped is a cause code and, for a step, the step's name.

An order emits `placed` first and exactly one of `completed`, `rejected`, `cancelled`,
`compensated` or `needs_attention` last; `approved` only when the order needed an approval.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from pydantic import BaseModel

SOURCE = "/continuum/orders"

PLACED = "order.placed.v1"
APPROVED = "order.approved.v1"
REJECTED = "order.rejected.v1"
PAID = "order.paid.v1"
SHIPPED = "order.shipped.v1"
DELIVERED = "order.delivered.v1"
INVOICED = "order.invoiced.v1"
COMPLETED = "order.completed.v1"
CANCELLED = "order.cancelled.v1"
COMPENSATED = "order.compensated.v1"
NEEDS_ATTENTION = "order.needs_attention.v1"


class OrderEvent(BaseModel):
    """What every order event carries."""

    order_id: str
    customer_id: str


class PlacedLine(BaseModel):
    sku: str
    quantity: int
    unit_price: Decimal


class OrderPlaced(OrderEvent):
    total: Decimal
    currency: str
    payment_method: str
    lines: list[PlacedLine]


class OrderApproved(OrderEvent):
    total: Decimal
    currency: str


class RejectionCause(StrEnum):
    INVALID = "invalid"  # the order's own data (a line, the currency)
    CUSTOMER_BLOCKED = "customer_blocked"
    INSUFFICIENT_STOCK = "insufficient_stock"
    NOT_APPROVED = "not_approved"  # rejected by a person, the deadline, or a failed approval
    STEP_REFUSED = "step_refused"  # a system refused a step before anything was written


class OrderRejected(OrderEvent):
    cause: RejectionCause
    skus: list[str] = []  # insufficient stock: the SKUs that are short
    failed_step: str | None = None  # step_refused: which step


class OrderPaid(OrderEvent):
    payment_id: str
    amount: Decimal
    currency: str


class OrderShipped(OrderEvent):
    sales_order_id: str
    shipment_id: str
    tracking_number: str


class OrderDelivered(OrderEvent):
    shipment_id: str
    delivered_at: datetime


class OrderInvoiced(OrderEvent):
    sales_order_id: str
    invoice_id: str
    amount: Decimal
    currency: str


class OrderCompleted(OrderEvent):
    sales_order_id: str
    payment_id: str
    shipment_id: str
    invoice_id: str
    total: Decimal
    currency: str


class OrderUndone(OrderEvent):
    """An order that stopped after writes: what was undone (the undo steps, newest first)."""

    undone: list[str] = []


class OrderCancelled(OrderUndone):
    pass


class OrderCompensated(OrderUndone):
    failed_step: str | None = None  # the step that failed for good


class OrderNeedsAttention(OrderUndone):
    failed_step: str | None = None
    not_undone: list[str]  # undo steps that were refused: a person must finish them


TYPES: dict[str, type[BaseModel]] = {
    PLACED: OrderPlaced,
    APPROVED: OrderApproved,
    REJECTED: OrderRejected,
    PAID: OrderPaid,
    SHIPPED: OrderShipped,
    DELIVERED: OrderDelivered,
    INVOICED: OrderInvoiced,
    COMPLETED: OrderCompleted,
    CANCELLED: OrderCancelled,
    COMPENSATED: OrderCompensated,
    NEEDS_ATTENTION: OrderNeedsAttention,
}
