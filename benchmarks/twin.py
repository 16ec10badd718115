"""The no-op twin of order-to-cash: the same activity graph, activities that do nothing.

Same input, same search attribute updates (the carrier finds shipped twins like orders), the
same two reads in parallel, five writes in a row, the delivery deadline timer and the
`delivered` signal, then three writes. Only the benchmark worker registers it: the ratio of
order throughput to twin throughput is what the real steps (HTTP, ERP, CRM, models) cost on
top of Temporal itself.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

from pydantic import BaseModel
from temporalio import activity, workflow

with workflow.unsafe.imports_passed_through():
    from continuum import search_attributes as sa
    from domain.orders.contract import OrderToCashInput
    from domain.orders.lifecycle import DeliveryNotice
    from domain.orders.models import OrderStatus
    from workflows.policies import READ, WRITE, ActivityOptions

WORKFLOW_NAME = "OrderToCashTwin"
READS = ("check_credit", "check_stock")
WRITES = ("reserve_stock", "create_sales_order", "upsert_deal", "capture_payment")
SHIP = "create_shipment"
AFTER_DELIVERY = ("confirm_delivery", "create_invoice", "upsert_deal_won")


class TwinStep(BaseModel):
    order_id: str
    step: str


def _noop(name: str) -> Callable[[TwinStep], Coroutine[Any, Any, TwinStep]]:
    @activity.defn(name=f"twin_{name}")
    async def step(req: TwinStep) -> TwinStep:
        return req

    return step


def twin_activities() -> list[Callable[[TwinStep], Coroutine[Any, Any, TwinStep]]]:
    return [_noop(name) for name in (*READS, *WRITES, SHIP, *AFTER_DELIVERY)]


@workflow.defn(name=WORKFLOW_NAME)
class OrderToCashTwin:
    def __init__(self) -> None:
        self._delivered = False

    @workflow.run
    async def run(self, input: OrderToCashInput) -> str:
        order = input.order
        workflow.upsert_search_attributes(
            [
                sa.ORDER_ID.value_set(order.order_id),
                sa.CUSTOMER_ID.value_set(order.customer.customer_id),
                sa.ORDER_TOTAL.value_set(float(order.total)),
            ]
        )
        self._status(OrderStatus.RECEIVED)
        self._status(OrderStatus.CHECKING)
        await asyncio.gather(*(self._step(name, READ) for name in READS))
        for name in (*WRITES, SHIP):
            await self._step(name, WRITE)
        self._status(OrderStatus.AWAITING_DELIVERY)
        try:
            await workflow.wait_condition(lambda: self._delivered, timeout=input.delivery_deadline)
        except TimeoutError:
            await workflow.wait_condition(lambda: self._delivered)
        await self._step(AFTER_DELIVERY[0], WRITE)
        self._status(OrderStatus.INVOICING)
        for name in AFTER_DELIVERY[1:]:
            await self._step(name, WRITE)
        self._status(OrderStatus.COMPLETED)
        return order.order_id

    async def _step(self, name: str, options: ActivityOptions) -> TwinStep:
        arg = TwinStep(order_id=workflow.info().workflow_id, step=name)
        done: TwinStep = await workflow.execute_activity(
            f"twin_{name}", arg, result_type=TwinStep, **options
        )
        return done

    def _status(self, status: OrderStatus) -> None:
        workflow.upsert_search_attributes([sa.ORDER_STATUS.value_set(status.value)])

    @workflow.signal
    def delivered(self, notice: DeliveryNotice) -> None:
        self._delivered = True
