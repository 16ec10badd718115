"""The watchdog: one evaluation per scheduled run. Every rule is judged as of the run's start, each
in its own step; then each firing condition's Alert is told (signal-with-start, so the same
condition seen twice is still one alert) and the open alerts of rules judged in full that no
longer fire are told they are clear. The Alerts keep the hysteresis and the paging.

It runs on the ops task queue, in its own worker, so it still works when the business worker is
down, which is one of the things it must report.
"""

from __future__ import annotations

import asyncio
from datetime import datetime

from pydantic import ValidationError
from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.watchdog.watchdog import WatchdogActivities
    from domain.watchdog.contract import (
        WORKFLOW_NAME,
        EvaluateRequest,
        ObserveRequest,
        RuleEvaluation,
        WatchdogReport,
        WatchdogRun,
    )
    from workflows.failures import reason
    from workflows.policies import WATCHDOG_STEP


# An input that does not decode fails the workflow instead of retrying its task forever.
@workflow.defn(name=WORKFLOW_NAME, failure_exception_types=[ValidationError])
class Watchdog:
    @workflow.run
    async def run(self, run: WatchdogRun) -> WatchdogReport:
        at = workflow.now()
        ruleset = await workflow.execute_activity_method(
            WatchdogActivities.watchdog_rules, run, **WATCHDOG_STEP
        )
        evaluations = await asyncio.gather(*(self._judge(name, at) for name in ruleset.rules))
        observed = await workflow.execute_activity_method(
            WatchdogActivities.observe_conditions,
            ObserveRequest(at=at, evaluations=list(evaluations)),
            **WATCHDOG_STEP,
        )
        report = WatchdogReport(
            at=at,
            rules=len(evaluations),
            firing=observed.firing,
            cleared=observed.cleared,
            errors={e.rule: e.error for e in evaluations if e.error},
        )
        workflow.set_current_details(_details(report, evaluations))
        return report

    async def _judge(self, rule: str, at: datetime) -> RuleEvaluation:
        """A rule that cannot be judged this time says why; its alerts are left as they are."""
        try:
            return await workflow.execute_activity_method(
                WatchdogActivities.evaluate_rule,
                EvaluateRequest(rule=rule, at=at),
                summary=rule,
                **WATCHDOG_STEP,
            )
        except ActivityError as err:
            return RuleEvaluation(rule=rule, complete=False, error=reason(err))


def _details(report: WatchdogReport, evaluations: list[RuleEvaluation]) -> str:
    rows = "\n".join(
        f"| {e.rule} | {len(e.conditions)} | {e.error or e.note or _partial(e)} |"
        for e in evaluations
    )
    return (
        f"**{len(report.firing)} firing**, {len(report.cleared)} cleared, "
        f"{len(report.errors)} not judged\n\n| rule | firing | note |\n|---|---|---|\n{rows}"
    )


def _partial(evaluation: RuleEvaluation) -> str:
    return "" if evaluation.complete else "partial"
