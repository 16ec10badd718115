"""The no-op twin of order-to-cash: the same activity graph, activities that do nothing.

Same input, same search attribute updates (the carrier finds shipped twins like orders), the
same two reads in parallel, three writes at once (stock, sales order, deal: the order's
`concurrent-writes`), two in a row, the delivery deadline timer and the `delivered` signal,
then three writes. Only the benchmark worker registers it: the ratio of order throughput to
twin throughput is what the real steps (HTTP, ERP, CRM, models) cost on top of Temporal itself.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

from pydantic import BaseModel
from temporalio import activity, workflow

with workflow.unsafe.imports_passed_through():
    from domain.orders.contract import Message, OrderToCashInput
    from domain.orders.lifecycle import DeliveryNotice
    from domain.orders.models import OrderStatus
    from workflows import search_attributes as sa
    from workflows.policies import READ, WRITE, ActivityOptions

WORKFLOW_NAME = "OrderToCashTwin"
READS = ("check_credit", "check_stock")
AT_ONCE = ("reserve_stock", "create_sales_order", "upsert_deal")
WRITES = ("capture_payment", "create_shipment")
AFTER_DELIVERY = ("confirm_delivery", "create_invoice", "upsert_deal_won")


class TwinStep(BaseModel):
    order_id: str
    step: str


TwinActivity = Callable[[TwinStep], Coroutine[Any, Any, TwinStep]]


def _noop(name: str) -> TwinActivity:
    @activity.defn(name=f"twin_{name}")
    async def step(req: TwinStep) -> TwinStep:
        return req

    return step


# One no-op activity per order step, called by reference (registered as `twin_<step>`).
_STEPS: dict[str, TwinActivity] = {
    name: _noop(name) for name in (*READS, *AT_ONCE, *WRITES, *AFTER_DELIVERY)
}


def twin_activities() -> list[TwinActivity]:
    return list(_STEPS.values())


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
        await asyncio.gather(*(self._step(name, WRITE) for name in AT_ONCE))
        for name in WRITES:
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
        return await workflow.execute_activity(_STEPS[name], arg, **options)

    def _status(self, status: OrderStatus) -> None:
        workflow.upsert_search_attributes([sa.ORDER_STATUS.value_set(status.value)])

    # The carrier signals twins and orders alike (OrderClient.deliver).
    @workflow.signal(name=Message.DELIVERED)
    def delivered(self, notice: DeliveryNotice) -> None:
        self._delivered = True
