"""Keeps an order's visible state current: the status query, search attributes, UI details."""

from __future__ import annotations

from typing import Any

from temporalio import workflow
from temporalio.common import SearchAttributeUpdate

with workflow.unsafe.imports_passed_through():
    from domain.orders.models import Order, OrderResult, OrderStatus, StepRecord
    from workflows import search_attributes as sa
    from workflows.orders.metrics import order_ended


class OrderTracker:
    def __init__(self, order: Order) -> None:
        self.order = order
        self.result = OrderResult(order_id=order.order_id, status=OrderStatus.RECEIVED)

    def start(self) -> None:
        order = self.order
        workflow.upsert_search_attributes(
            [
                sa.ORDER_ID.value_set(order.order_id),
                sa.CUSTOMER_ID.value_set(order.customer.customer_id),
                sa.ORDER_TOTAL.value_set(float(order.total)),
            ]
        )
        self.set_status(OrderStatus.RECEIVED)

    def set_status(self, status: OrderStatus, reason: str | None = None) -> None:
        self.result.status = status
        if reason is not None:
            self.result.reason = reason
        updates: list[SearchAttributeUpdate[Any]] = [
            sa.ORDER_STATUS.value_set(status.value),
            *sa.state_since(),
        ]
        workflow.upsert_search_attributes(updates)
        details = f"**{status.value}**"
        if reason:
            details += f"\n\n{reason}"
        workflow.set_current_details(details)
        if status.is_terminal:
            order_ended(self.result)

    def record(self, step: str, detail: str = "") -> None:
        self.result.steps.append(StepRecord(step=step, at=workflow.now(), detail=detail))
