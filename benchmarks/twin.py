"""The no-op twin of order-to-cash: the same activity graph, activities that do nothing.

Same input, same search attribute updates and patches (the carrier finds shipped twins like
orders; each patch is a marker and an upsert, `tests/workflows/test_twin.py`), the
same two reads in parallel, three writes at once (stock, sales order, deal: the order's
`concurrent-writes`), two in a row, the delivery deadline timer and the `delivered` signal,
then three writes; the same business events at the same points (the order's emitter, handing
over to a no-op local activity of its own). Only the benchmark worker registers it: the ratio
of order throughput to twin throughput is what the real steps (HTTP, ERP, CRM, models) cost on
top of Temporal itself.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

from pydantic import BaseModel
from temporalio import activity, workflow

with workflow.unsafe.imports_passed_through():
    from domain.events import orders as ev
    from domain.events.models import EventBatch, Handover, HandoverResult
    from domain.orders.contract import Message, OrderToCashInput
    from domain.orders.lifecycle import DeliveryNotice
    from domain.orders.models import OrderStatus
    from workflows import search_attributes as sa
    from workflows.events import HANDOVER_TIMEOUT, Events
    from workflows.orders.business_events import BUSINESS_EVENTS, HELD_EVENTS
    from workflows.orders.writes import CONCURRENT_WRITES, UNDO_IN_WRITE_ORDER
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


@activity.defn(name="twin_hand_over_events")
async def _hand_over(handover: Handover) -> HandoverResult:
    return HandoverResult(handed_over=0)


class _TwinEvents(Events):
    """The order's emitter (its patch, its batching per workflow task, its flush), handing
    over to the twin's no-op local activity instead of a publisher."""

    async def _send(self) -> None:
        await asyncio.sleep(0)
        while self._pending:
            batch, self._pending = self._pending, []
            await workflow.execute_local_activity(
                _hand_over,
                Handover(batch=EventBatch(events=batch)),
                start_to_close_timeout=HANDOVER_TIMEOUT,
            )


def twin_activities() -> list[Callable[..., Any]]:
    return [*_STEPS.values(), _hand_over]


@workflow.defn(name=WORKFLOW_NAME)
class OrderToCashTwin:
    def __init__(self) -> None:
        self._delivered = False
        self._events = _TwinEvents(
            workflow.info().workflow_id, ev.SOURCE, BUSINESS_EVENTS, hold_patch=HELD_EVENTS
        )

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
        self._emit(ev.PLACED)
        self._status(OrderStatus.CHECKING)
        await asyncio.gather(*(self._step(name, READ) for name in READS))
        # The order's patches at the order's points: each is a marker and a TemporalChangeVersion
        # upsert in the history, work the server does for orders and twins alike.
        workflow.patched(CONCURRENT_WRITES)
        await asyncio.gather(*(self._step(name, WRITE) for name in AT_ONCE))
        workflow.patched(UNDO_IN_WRITE_ORDER)
        await self._step("capture_payment", WRITE)
        self._emit(ev.PAID, hold=True)
        await self._step("create_shipment", WRITE)
        self._emit(ev.SHIPPED)
        self._status(OrderStatus.AWAITING_DELIVERY)
        try:
            await workflow.wait_condition(lambda: self._delivered, timeout=input.delivery_deadline)
        except TimeoutError:
            await workflow.wait_condition(lambda: self._delivered)
        await self._step("confirm_delivery", WRITE)
        self._emit(ev.DELIVERED, hold=True)
        self._status(OrderStatus.INVOICING)
        await self._step("create_invoice", WRITE)
        self._emit(ev.INVOICED, hold=True)
        await self._step("upsert_deal_won", WRITE)
        self._status(OrderStatus.COMPLETED)
        self._emit(ev.COMPLETED)
        await self._events.flush()
        return order.order_id

    def _emit(self, type: str, hold: bool = False) -> None:
        order = workflow.info().workflow_id
        self._events.emit(type, order, {"order_id": order, "customer_id": "twin"}, hold=hold)

    async def _step(self, name: str, options: ActivityOptions) -> TwinStep:
        arg = TwinStep(order_id=workflow.info().workflow_id, step=name)
        return await workflow.execute_activity(_STEPS[name], arg, **options)

    def _status(self, status: OrderStatus) -> None:
        workflow.upsert_search_attributes(
            [sa.ORDER_STATUS.value_set(status.value), *sa.state_since()]
        )

    # The carrier signals twins and orders alike (OrderClient.deliver).
    @workflow.signal(name=Message.DELIVERED)
    def delivered(self, notice: DeliveryNotice) -> None:
        self._delivered = True
