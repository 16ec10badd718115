"""The success rate of closed orders over a sliding window, by the daily report's definition of
success (domain.figures), below the rule's line: on a real dev server of its own, so that no other
test's orders close in its window."""

from __future__ import annotations

import uuid

from temporalio.worker import Worker

from domain.alerts.contract import fingerprint, workflow_id
from domain.orders.models import OrderStatus
from tests.watchdog.conftest import Watch, ago, rule_name
from tests.watchdog.standins import Act, StandInOrder, reserve_stock


async def test_the_success_rate_of_closed_orders_below_its_line_alerts(watch: Watch) -> None:
    name, lenient = rule_name("success-rate"), rule_name("lenient-rate")
    queue = f"orders-{uuid.uuid4().hex[:6]}"
    closing = [OrderStatus.COMPLETED] * 4 + [OrderStatus.COMPENSATED, OrderStatus.NEEDS_ATTENTION]
    async with Worker(
        watch.client, task_queue=queue, workflows=[StandInOrder], activities=[reserve_stock]
    ):
        for status in closing:
            handle = await watch.park(
                "OrderToCash",
                "OrderStatus",
                "Received",
                ago(seconds=1),
                task_queue=queue,
                arg=Act(close=status.value),
            )
            await handle.result()
    await watch.visible(
        "WorkflowType = 'OrderToCash' AND ExecutionStatus = 'Completed'"
        " AND OrderStatus = 'NeedsAttention' AND CloseTime > '2026-01-01T00:00:00Z'",
        1,
    )
    rules = "".join(
        f"""
[[rules]]
name = "{n}"
kind = "failure-rate"
severity = "warning"
window = "5m"
below = {below}
min_closed = 5
runbook = "type=order execution=failed"
"""
        for n, below in ((name, 0.98), (lenient, 0.5))
    )
    async with watch.ops_worker(rules):
        report = await watch.run(name, lenient)
        state = await watch.alert(report.firing[0])

    assert report.firing == [workflow_id(fingerprint(name, "orders"))]
    assert state.input.summary == "order success rate below 98% over the last 5m"
    assert state.last_detail == "83.3%: 5 of 6 closed orders succeeded"
