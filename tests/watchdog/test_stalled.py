"""Stalled processes, judged through visibility (StateSince and the status) on a real dev server:
an allowance in business time, an alert per process or one per rule, the same condition twice
is one alert, and a condition that goes away is told clear."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from domain.alerts.contract import AlertStatus, fingerprint, workflow_id
from domain.business_calendar import business_time_before
from tests.watchdog.conftest import Watch, ago, rule_name

ORDERS = "WorkflowType = 'OrderToCash' AND ExecutionStatus = 'Running'"


def stalled(name: str, *, status: str, longer_than: str = "", per: str = "rule") -> str:
    over = f'longer_than = "{longer_than}"\n' if longer_than else ""
    return f"""
[[rules]]
name = "{name}"
kind = "stalled"
severity = "critical"
process = "order"
status = ["{status}"]
{over}per = "{per}"
clear_after = "0s"
runbook = "type=order status={status}"
"""


async def test_an_order_past_three_business_days_alerts_and_one_just_short_does_not(
    watch: Watch,
) -> None:
    name = rule_name("delivery-late")
    now = datetime.now(UTC)
    three_days = timedelta(hours=24)  # 3 business days of 8 hours
    late = business_time_before(watch.calendar, now, three_days + timedelta(hours=1))
    nearly = business_time_before(watch.calendar, now, three_days - timedelta(hours=1))
    old = await watch.park("OrderToCash", "OrderStatus", "AwaitingDelivery", late)
    await watch.park("OrderToCash", "OrderStatus", "AwaitingDelivery", nearly)
    await watch.visible(f"{ORDERS} AND OrderStatus = 'AwaitingDelivery'", 2)

    async with watch.ops_worker(
        stalled(name, status="AwaitingDelivery", longer_than="3bd", per="process")
    ):
        report = await watch.run(name)
        state = await watch.alert(report.firing[0])

    assert report.firing == [workflow_id(fingerprint(name, old.id))]
    assert state.input.subject == old.id
    assert state.input.summary == f"order {old.id} is AwaitingDelivery longer than 3bd"
    assert state.status is AlertStatus.FIRING
    assert state.input.runbook == "type=order status=AwaitingDelivery"


async def test_the_same_condition_twice_is_one_alert_and_it_clears_when_the_order_moves(
    watch: Watch,
) -> None:
    name = rule_name("needs-attention")
    stuck = await watch.park("OrderToCash", "OrderStatus", "NeedsAttention", ago(minutes=3))
    await watch.visible(f"{ORDERS} AND WorkflowId = '{stuck.id}'", 1)

    async with watch.ops_worker(stalled(name, status="NeedsAttention")):
        first = await watch.run(name)
        second = await watch.run(name)
        assert (
            first.firing
            == second.firing
            == [workflow_id(fingerprint(name, "order NeedsAttention"))]
        )
        alert = watch.client.get_workflow_handle(first.firing[0])
        runs = [wf async for wf in watch.client.list_workflows(f"WorkflowId = '{alert.id}'")]
        assert len(runs) == 1  # one alert, told twice
        state = await watch.alert(alert.id)
        assert state.input.summary == "orders NeedsAttention"
        assert state.last_detail.startswith(f"1 now: {stuck.id} (3m")

        await stuck.terminate("repaired by hand")
        await watch.visible(f"{ORDERS} AND WorkflowId = '{stuck.id}'", 0)
        third = await watch.run(name)
        assert third.firing == [] and third.cleared == [alert.id]
        assert (await watch.alert(alert.id)).status is AlertStatus.RESOLVED


async def test_a_capped_list_names_the_first_and_counts_the_rest(watch: Watch) -> None:
    name = rule_name("compensating")
    for _ in range(3):
        await watch.park("OrderToCash", "OrderStatus", "Compensating", ago(minutes=20))
    await watch.visible(f"{ORDERS} AND OrderStatus = 'Compensating'", 3)
    rule = stalled(name, status="Compensating", longer_than="10m") + "max_listed = 2\n"

    async with watch.ops_worker(rule):
        report = await watch.run(name)
        state = await watch.alert(report.firing[0])

    assert state.input.summary == "orders Compensating longer than 10m"
    assert state.last_detail.startswith("3 now: ") and state.last_detail.endswith(" and 1 more")
