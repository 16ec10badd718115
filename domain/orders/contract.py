"""Order-to-cash's contract: what the workflow and every client of it agree on.

Workflow type, id scheme, task queue, the names of its queries, signals and updates, its search
attributes and the metrics it counts. Pure names and models (no Temporal import), so that the
workflow, the CLI, the gateway and the tests all import the same ones (as `api.go` does in
Temporal's Go reference app).
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel, Field

from domain.approvals.policy import ApprovalPolicy
from domain.orders.models import Order
from domain.visibility import Kind, SearchAttribute

WORKFLOW_NAME = "OrderToCash"
# The default; CONTINUUM_TASK_QUEUE overrides it (continuum.settings).
TASK_QUEUE = "continuum-orders"


def workflow_id(order_id: str) -> str:
    return f"order-{order_id}"


class Message:
    """Names of the workflow's queries, signals and updates."""

    STATUS = "status"  # query → OrderResult
    DELIVERED = "delivered"  # signal DeliveryNotice: the carrier's news
    RECEIVED = "received"  # signal EventNotice: another system's news (evidence only)
    CANCEL = "cancel"  # update CancelRequest → OrderResult
    # The single-level gate of orders started before the Approval process (legacy).
    APPROVAL = "approval"  # query → GateState | None
    APPROVE = "approve"  # update GateDecision → GateState
    REJECT = "reject"  # update GateDecision → GateState


# What other systems may send a running order (the gateway's routes are checked against these).
SIGNALS = frozenset({Message.DELIVERED, Message.RECEIVED})
UPDATES = frozenset({Message.CANCEL})


ORDER_ID = SearchAttribute("OrderId", Kind.KEYWORD)
CUSTOMER_ID = SearchAttribute("CustomerId", Kind.KEYWORD)
ORDER_STATUS = SearchAttribute("OrderStatus", Kind.KEYWORD)
ORDER_TOTAL = SearchAttribute("OrderTotal", Kind.DOUBLE)
SEARCH_ATTRIBUTES = [ORDER_ID, CUSTOMER_ID, ORDER_STATUS, ORDER_TOTAL]


class Metric:
    """What the workflow counts (recorded only on first execution, never on replay)."""

    COMPLETED = "continuum_orders_completed"
    COMPENSATED = "continuum_orders_compensated"
    FAILED = "continuum_orders_failed"
    DURATION = "continuum_order_duration_seconds"


# The outcome counters and their help texts (the worker creates them at 0 when it starts, so
# that a dashboard or an alert finds them before the first order ends).
OUTCOME_COUNTERS = {
    Metric.COMPLETED: "Orders that completed",
    Metric.COMPENSATED: "Orders whose done steps were undone",
    Metric.FAILED: "Orders that ended neither completed nor compensated",
}


class OrderToCashInput(BaseModel):
    order: Order
    policy: ApprovalPolicy = Field(default_factory=ApprovalPolicy)
    # After this the order is marked DeliveryOverdue, and the process keeps waiting.
    delivery_deadline: timedelta = timedelta(hours=72)
    # The staff member who entered the order: the approval's requester, who may not approve it
    # (four-eyes). None (a shop's order, or one started before this field): the customer id.
    entered_by: str | None = None
