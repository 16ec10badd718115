"""Steps retrying (candidates from visibility, then described), a task queue backed up, and a task
queue nobody polls, each on a real dev server."""

from __future__ import annotations

import asyncio
import uuid

from temporalio.worker import Worker

from domain.alerts.contract import AlertStatus, fingerprint, workflow_id
from tests.watchdog.conftest import Watch, ago, eventually, rule_name
from tests.watchdog.standins import Act, StandInOrder, reserve_stock

ORDERS = "WorkflowType = 'OrderToCash' AND ExecutionStatus = 'Running'"


def retrying(name: str, **fields: str) -> str:
    values = "".join(f"{k} = {v}\n" for k, v in fields.items())
    return f"""
[[rules]]
name = "{name}"
kind = "retrying"
severity = "critical"
process = "order"
unchanged_for = "1m"
runbook = "type=order retrying"
{values}"""


async def test_a_step_retrying_and_a_failing_workflow_task_alert_a_parked_order_is_not_asked(
    watch: Watch,
) -> None:
    name = rule_name("retrying")
    queue = f"orders-{uuid.uuid4().hex[:6]}"
    async with Worker(
        watch.client, task_queue=queue, workflows=[StandInOrder], activities=[reserve_stock]
    ):
        erp_down = await watch.park(
            "OrderToCash",
            "OrderStatus",
            "Processing",
            ago(minutes=5),
            task_queue=queue,
            arg=Act(retry=True),
        )
        broken = await watch.park(
            "OrderToCash", "OrderStatus", "Checking", ago(minutes=5), task_queue=queue, arg=Act()
        )
        # Parked for days and on no worker: never a candidate, so never described.
        await watch.park("OrderToCash", "OrderStatus", "AwaitingDelivery", ago(days=4))
        fresh = await watch.park(
            "OrderToCash",
            "OrderStatus",
            "Processing",
            ago(seconds=1),
            task_queue=queue,
            arg=Act(retry=True),
        )

        async def broken_twice() -> bool:
            described = await broken.describe()
            return described.raw_description.pending_workflow_task.attempt >= 3

        await eventually("the broken order's third workflow task", broken_twice, within=60)
        rule = retrying(
            name,
            status='["Checking", "Processing"]',
            attempts="3",
            per='"process"',
        )
        async with watch.ops_worker(rule):
            report = await watch.run(name)
            states = {i: await watch.alert(i) for i in report.firing}

    assert set(report.firing) == {
        workflow_id(fingerprint(name, erp_down.id)),
        workflow_id(fingerprint(name, broken.id)),
    }
    details = {s.input.subject: s.last_detail for s in states.values()}
    assert details[erp_down.id].startswith("reserve_stock attempt ")
    assert "last failure: ERP answered 503: Service Unavailable" in details[erp_down.id]
    assert details[broken.id].startswith("workflow task attempt ")
    assert fresh.id not in details  # its state changed a second ago: not a candidate yet


async def test_retrying_longer_than_counts_from_the_first_attempt(watch: Watch) -> None:
    name = rule_name("retrying-long")
    queue = f"orders-{uuid.uuid4().hex[:6]}"
    async with Worker(
        watch.client, task_queue=queue, workflows=[StandInOrder], activities=[reserve_stock]
    ):
        order = await watch.park(
            "OrderToCash",
            "OrderStatus",
            "Processing",
            ago(minutes=5),
            task_queue=queue,
            arg=Act(retry=True),
        )
        rule = retrying(name, longer_than='"4s"', per='"step"')
        async with watch.ops_worker(rule):
            first = await watch.run(name)

            async def retried_long() -> bool:
                return bool((await watch.run(name)).firing)

            await eventually("reserve_stock retrying for 4 s", retried_long)
            report = await watch.run(name)
            state = await watch.alert(report.firing[0])

    # The state is 5 minutes old, but the step began retrying just now: not at once.
    assert first.firing == []
    assert report.firing == [workflow_id(fingerprint(name, "order step reserve_stock"))]
    assert state.input.summary == "orders retrying step reserve_stock"
    assert state.last_detail.startswith(f"1 now; worst: {order.id} reserve_stock attempt ")


async def test_a_backed_up_task_queue_alerts(watch: Watch) -> None:
    name = rule_name("backlog")
    queue = f"backed-up-{uuid.uuid4().hex[:6]}"
    for _ in range(3):
        await watch.park("OrderToCash", "OrderStatus", "Received", ago(seconds=1), task_queue=queue)
    rule = f"""
[[rules]]
name = "{name}"
kind = "backlog"
severity = "warning"
task_queue = "{queue}"
count_over = 2
runbook = "type=order running"
"""
    async with watch.ops_worker(rule):

        async def backed_up() -> bool:
            return bool((await watch.run(name)).firing)

        await eventually("a backlog of 3 workflow tasks", backed_up)
        report = await watch.run(name)
        state = await watch.alert(report.firing[0])

    assert report.firing == [workflow_id(fingerprint(name, f"task-queue {queue}"))]
    assert "workflow backlog 3 > 2" in state.last_detail


async def test_a_queue_whose_worker_stopped_alerts_and_clears_when_it_is_back(
    watch: Watch,
) -> None:
    name = rule_name("no-worker")
    queue = f"served-{uuid.uuid4().hex[:6]}"
    rule = f"""
[[rules]]
name = "{name}"
kind = "no-worker"
severity = "critical"
task_queue = "{queue}"
no_poller_for = "15s"
clear_after = "0s"
runbook = "type=order running"
"""
    alert_id = workflow_id(fingerprint(name, f"task-queue {queue}"))

    def business_worker() -> Worker:
        return Worker(
            watch.client, task_queue=queue, workflows=[StandInOrder], activities=[reserve_stock]
        )

    async with watch.ops_worker(rule):
        async with business_worker():
            await watch.run(name)  # ... at its start, and 20 s into it: a live worker
            await _past(20)
            assert (await watch.run(name)).firing == []

        async def paged() -> bool:
            return (await watch.run(name)).firing == [alert_id]

        await eventually("the stopped worker's alert", paged, within=45)
        assert (await watch.alert(alert_id)).status is AlertStatus.FIRING

        async with business_worker():

            async def cleared() -> bool:
                return alert_id in (await watch.run(name)).cleared

            await eventually("the alert told clear once the worker polls again", cleared)
            assert (await watch.alert(alert_id)).status is AlertStatus.RESOLVED


async def _past(seconds: float) -> None:
    """Time passing is what this test is about (not a wait for something to happen)."""
    await asyncio.sleep(seconds)
