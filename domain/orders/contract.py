"""What starts an order-to-cash process: the order and the policy in force when it arrived."""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel, Field

from domain.approvals.policy import ApprovalPolicy
from domain.orders.models import Order

WORKFLOW_NAME = "OrderToCash"


def workflow_id(order_id: str) -> str:
    return f"order-{order_id}"


class OrderToCashInput(BaseModel):
    order: Order
    policy: ApprovalPolicy = Field(default_factory=ApprovalPolicy)
    # After this the order is marked DeliveryOverdue, and the process keeps waiting.
    delivery_deadline: timedelta = timedelta(hours=72)
