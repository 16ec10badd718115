"""The benchmarks' no-op twin keeps the order's shape: the same events by type, in the same
number, for an auto-approved order delivered while it waits (benchmarks.twin). The ratio of
order to twin throughput then measures the real steps, not a difference in history.

Workflow tasks are left out of the count: how many there are depends on timing (activities
that finish together may wake one task or two), not on the workflow's code."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle
from temporalio.worker import Worker

from benchmarks.twin import WORKFLOW_NAME as TWIN
from benchmarks.twin import OrderToCashTwin, twin_activities
from continuum.approvals.config import load_approval_policy
from domain.orders.contract import WORKFLOW_NAME as ORDER
from domain.orders.contract import Message, OrderToCashInput, workflow_id
from domain.orders.lifecycle import DeliveryNotice
from tests import samples
from tests.workflows.conftest import Harness


async def delivered_while_waiting(client: Client, name: str, task_queue: str) -> Counter[str]:
    """Runs one workflow `name` on an order, delivers it once its delivery timer runs, and
    counts its history's events by type."""
    order = samples.order()
    handle: WorkflowHandle[object, object] = await client.start_workflow(
        name,
        OrderToCashInput(order=order, policy=load_approval_policy()),
        id=workflow_id(order.order_id),
        task_queue=task_queue,
    )
    deadline = time.monotonic() + 15
    while EventType.EVENT_TYPE_TIMER_STARTED not in await _types(handle):
        assert time.monotonic() < deadline, f"{name} never waited for its delivery"
        await asyncio.sleep(0.05)
    await handle.signal(Message.DELIVERED, DeliveryNotice(order_id=order.order_id))
    await handle.result()
    names = [EventType.Name(t).removeprefix("EVENT_TYPE_").lower() for t in await _types(handle)]
    return Counter(n for n in names if not n.startswith("workflow_task_"))


async def _types(handle: WorkflowHandle[object, object]) -> list[EventType.ValueType]:
    return [e.event_type async for e in handle.fetch_history_events()]


async def test_the_twin_writes_the_same_events_as_an_order(harness: Harness) -> None:
    client = harness.env.client
    twins = f"twins-{uuid.uuid4().hex[:8]}"
    twin_worker = Worker(
        client, task_queue=twins, workflows=[OrderToCashTwin], activities=twin_activities()
    )
    with harness.env.auto_time_skipping_disabled():
        async with harness.worker(), twin_worker:
            order = await delivered_while_waiting(client, ORDER, harness.task_queue)
            twin = await delivered_while_waiting(client, TWIN, twins)
    assert order["marker_recorded"] >= 8  # patches and event hand-overs: not a trivial order
    assert order["activity_task_completed"] == 10
    assert twin == order
