"""Requests from outside that change an order's course: delivery news and cancellation."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel


class DeliveryNotice(BaseModel):
    order_id: str
    carrier: str = "unknown"
    # When the carrier says it delivered; the workflow's clock when absent.
    delivered_at: datetime | None = None


class CancelRequest(BaseModel):
    order_id: str
    requested_by: str
    reason: str = ""
