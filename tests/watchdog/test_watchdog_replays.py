"""A watchdog run replays on today's code: its rules judged side by side (one of them failing) and
the alerts told, the same commands in the same order however the activities finished."""

from __future__ import annotations

from temporalio.worker import Replayer

from continuum.converter import data_converter
from tests.watchdog.conftest import Watch, ago, rule_name
from workers.ops import OPS_WORKFLOWS


async def test_a_run_with_a_firing_rule_and_a_failing_one_replays(watch: Watch) -> None:
    stalled, blind = rule_name("needs-attention"), rule_name("sync-idle")
    await watch.park("OrderToCash", "OrderStatus", "NeedsAttention", ago(minutes=2))
    await watch.visible("OrderStatus = 'NeedsAttention' AND ExecutionStatus = 'Running'", 1)
    rules = f"""
[[rules]]
name = "{stalled}"
kind = "stalled"
severity = "critical"
process = "order"
status = ["NeedsAttention"]
runbook = "type=order status=NeedsAttention"

[[rules]]
name = "{blind}"
kind = "sync-idle"
severity = "warning"
runbook = "type=sync"
"""
    async with watch.ops_worker(rules):
        report = await watch.run(stalled, blind)
        history = await watch.client.get_workflow_handle(watch.last_run).fetch_history()

    assert len(report.firing) == 1 and list(report.errors) == [blind]
    replayer = Replayer(workflows=list(OPS_WORKFLOWS), data_converter=data_converter())
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None
