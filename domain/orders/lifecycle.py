"""Requests from outside that change an order's course: delivery news and cancellation."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from domain.orders.models import OrderStatus


class DeliveryNotice(BaseModel):
    order_id: str
    carrier: str = "unknown"
    # When the carrier says it delivered; the workflow's clock when absent.
    delivered_at: datetime | None = None


class EventNotice(BaseModel):
    """News about an order from another system (a webhook), kept in the order's tracking."""

    event_id: str
    source: str
    type: str
    order_id: str


class CancelRequest(BaseModel):
    order_id: str
    requested_by: str
    reason: str = ""


def cancel_problem(
    request: CancelRequest,
    order_id: str,
    status: OrderStatus,
    delivered: bool,
    cancelling: CancelRequest | None,
) -> str | None:
    """Why an order cannot be cancelled now, or None when it can."""
    if request.order_id != order_id:
        return f"unknown order {request.order_id!r}: this is order {order_id!r}"
    if not request.requested_by.strip():
        return "requested_by must not be empty"
    if status.is_terminal or status is OrderStatus.COMPENSATING:
        return f"order {order_id} is already {status.value}"
    if delivered:
        return f"order {order_id} was delivered; it can no longer be cancelled"
    if cancelling is not None:
        return f"order {order_id} is already being cancelled by {cancelling.requested_by}"
    return None
