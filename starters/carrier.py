"""The carrier: reports delivery for every shipped order until a batch has settled.

Orders wait for a `delivered` signal after shipping; outside a real carrier integration the
demo, the continuity drill and the stack tests play the carrier with this one loop. It reads
Temporal's visibility (one list call per hundred orders and round, not a query per order, so
it needs no worker), and rides out a Temporal restart: a round that fails is simply skipped.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field

from temporalio.client import WorkflowExecutionStatus
from temporalio.service import RPCError

from continuum import search_attributes as sa
from continuum.order_client import OrderClient, OrderError
from domain.orders.contract import workflow_id
from domain.orders.models import OrderStatus

SHIPPED = {OrderStatus.AWAITING_DELIVERY.value, OrderStatus.DELIVERY_OVERDUE.value}
_CHUNK = 100  # workflow ids per visibility query


@dataclass(frozen=True)
class Standing:
    """Where an order stands according to Temporal's visibility."""

    order_id: str
    status: str  # the OrderStatus search attribute
    running: bool

    @property
    def settled(self) -> bool:
        """Nothing more happens without a person: finished, or waiting for approval."""
        return not self.running or self.status == OrderStatus.AWAITING_APPROVAL.value


@dataclass
class Carrier:
    orders: OrderClient
    name: str = "carrier"
    standings: dict[str, Standing] = field(default_factory=dict)
    delivered: set[str] = field(default_factory=set)
    failed_rounds: int = 0

    def unsettled(self, ids: Collection[str]) -> list[str]:
        return [i for i in ids if i not in self.standings or not self.standings[i].settled]

    async def round(self, ids: Collection[str]) -> None:
        """Looks up every order not yet closed, and reports delivery for the shipped ones."""
        open_ids = [i for i in ids if i not in self.standings or self.standings[i].running]
        try:
            for start in range(0, len(open_ids), _CHUNK):
                await self._look_up(open_ids[start : start + _CHUNK])
        except RPCError:
            self.failed_rounds += 1  # Temporal is away; the next round tries again
            return
        shipped = [
            s.order_id
            for s in self.standings.values()
            if s.running and s.status in SHIPPED and s.order_id not in self.delivered
        ]
        await asyncio.gather(*(self._deliver(order_id) for order_id in shipped))

    async def _look_up(self, ids: Sequence[str]) -> None:
        by_workflow = {workflow_id(i): i for i in ids}
        quoted = ", ".join(f"'{w}'" for w in by_workflow)
        async for wf in self.orders.client.list_workflows(f"WorkflowId IN ({quoted})"):
            order_id = by_workflow.get(wf.id)
            if order_id is None:
                continue
            status = wf.typed_search_attributes.get(sa.ORDER_STATUS) or "?"
            running = wf.status is WorkflowExecutionStatus.RUNNING
            self.standings[order_id] = Standing(order_id, status, running)

    async def _deliver(self, order_id: str) -> None:
        try:
            await self.orders.deliver(order_id, carrier=self.name)
            self.delivered.add(order_id)
        except (OrderError, RPCError):
            pass  # it moved on, or Temporal is away: the next round sees where it stands


async def settle(
    orders: OrderClient,
    ids: Sequence[str],
    *,
    within: float,
    carrier: str = "carrier",
    interval: float = 0.25,
    on_round: Callable[[int], None] | None = None,
) -> Carrier:
    """Plays the carrier until every order has settled or `within` seconds have passed.

    `on_round` is told how many orders have settled after each round; the returned carrier
    holds each order's last standing (`unsettled(ids)` is empty when all settled in time).
    """
    deadline = time.monotonic() + within
    playing = Carrier(orders, carrier)
    while True:
        await playing.round(ids)
        left = playing.unsettled(ids)
        if on_round is not None:
            on_round(len(ids) - len(left))
        if not left or time.monotonic() > deadline:
            return playing
        await asyncio.sleep(interval)
