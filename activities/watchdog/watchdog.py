"""The watchdog's steps: which rules there are, one rule judged, and the Alerts told.

Each rule is its own activity, so one that cannot be judged (the store or the ERP away) leaves
the others' verdicts standing and its own alerts untouched. The configuration was checked when
the ops worker started; the steps read it from there.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError

from activities.watchdog.alerts import tell_alerts
from activities.watchdog.processes import retrying, stalled
from activities.watchdog.sync import SyncFacts, feed_lags, last_completed, quarantined_since
from activities.watchdog.task_queues import queue_states
from domain.alerts.contract import TASK_QUEUE as ALERT_TASK_QUEUE
from domain.business_calendar import BusinessCalendar
from domain.erp import ErpPort
from domain.figures import SuccessFigure, closed_orders_query, succeeded_orders_query
from domain.watchdog.config import WatchdogConfig
from domain.watchdog.contract import (
    LAST_RUN_METRIC,
    EvaluateRequest,
    Observed,
    ObserveRequest,
    RuleEvaluation,
    RuleSet,
    WatchdogRun,
)
from domain.watchdog.findings import (
    backlog_conditions,
    failure_rate_conditions,
    idle_conditions,
    no_worker_conditions,
    quarantine_conditions,
    sync_lag_conditions,
)
from domain.watchdog.rules import (
    BacklogRule,
    FailureRateRule,
    NoWorkerRule,
    RetryingRule,
    Rule,
    StalledRule,
    SyncIdleRule,
    SyncLagRule,
    SyncQuarantineRule,
)


@dataclass(frozen=True)
class WatchdogContext:
    """What the rules are judged against, built by the ops worker (workers/ops.py)."""

    config: WatchdogConfig
    calendar: BusinessCalendar
    sync_every: timedelta = timedelta(minutes=5)
    sync: SyncFacts | None = None  # the sync's store; None: sync rules cannot be judged
    erp: ErpPort | None = None  # for the sync's lag; None: sync-lag cannot be judged
    alert_task_queue: str = ALERT_TASK_QUEUE


class WatchdogActivities:
    def __init__(self, client: Client | None, context: WatchdogContext) -> None:
        self.client = client
        self.context = context

    def all(self) -> list[Any]:
        return [self.watchdog_rules, self.evaluate_rule, self.observe_conditions]

    @activity.defn(name="watchdog_rules")
    async def watchdog_rules(self, run: WatchdogRun) -> RuleSet:
        names = [rule.name for rule in self.context.config.rules]
        if unknown := [name for name in run.rules if name not in names]:
            raise ApplicationError(
                f"no watchdog rule {', '.join(unknown)}", type="UnknownRule", non_retryable=True
            )
        return RuleSet(rules=[n for n in names if not run.rules or n in run.rules])

    @activity.defn(name="evaluate_rule")
    async def evaluate_rule(self, request: EvaluateRequest) -> RuleEvaluation:
        try:
            rule = self.context.config.rule(request.rule)
        except KeyError as err:  # the configuration changed between the run's steps
            raise ApplicationError(str(err), type="UnknownRule", non_retryable=True) from None
        return await self._judge(rule, request)

    @activity.defn(name="observe_conditions")
    async def observe_conditions(self, request: ObserveRequest) -> Observed:
        context = self.context
        observed = await tell_alerts(
            self._client(), context.config, request, context.alert_task_queue
        )
        # The dead-man's switch: Prometheus checks this gauge's age from outside the watchdog.
        gauge = activity.metric_meter().create_gauge_float(
            LAST_RUN_METRIC, "Unix time when the watchdog last completed a run", "s"
        )
        gauge.set(time.time())
        return observed

    async def _judge(self, rule: Rule, request: EvaluateRequest) -> RuleEvaluation:
        client, context, now = self._client(), self.context, request.at
        match rule:
            case StalledRule():
                return await stalled(client, rule, now, context.calendar)
            case RetryingRule():
                return await retrying(client, rule, now)
            case BacklogRule():
                queues = await queue_states(client, rule.task_queue)
                return RuleEvaluation(rule=rule.name, conditions=backlog_conditions(rule, queues))
            case NoWorkerRule():
                queues = await queue_states(client, rule.task_queue)
                found = no_worker_conditions(rule, queues, now)
                return RuleEvaluation(rule=rule.name, conditions=found)
            case FailureRateRule():
                start = now - rule.window.as_timedelta()
                figure = SuccessFigure(
                    label=f"last {rule.window}",
                    closed=(await client.count_workflows(closed_orders_query(start, now))).count,
                    succeeded=(
                        await client.count_workflows(succeeded_orders_query(start, now))
                    ).count,
                )
                found = failure_rate_conditions(rule, figure)
                return RuleEvaluation(rule=rule.name, conditions=found)
            case SyncLagRule():
                lags = await feed_lags(self._sync(), self._erp(), rule.feeds, now)
                found = sync_lag_conditions(rule, lags)
                return RuleEvaluation(rule=rule.name, conditions=found)
            case SyncQuarantineRule():
                since = now - rule.within.as_timedelta()
                added = await quarantined_since(self._sync(), since)
                found = quarantine_conditions(rule, added)
                return RuleEvaluation(rule=rule.name, conditions=found)
            case SyncIdleRule():
                last = await last_completed(self._sync())
                found = idle_conditions(rule, last, context.sync_every, now)
                return RuleEvaluation(rule=rule.name, conditions=found)
        raise ApplicationError(f"rule {rule.name}: no evaluator", non_retryable=True)

    def _client(self) -> Client:
        if self.client is None:
            raise RuntimeError("the watchdog's activities need a Temporal client (workers/ops.py)")
        return self.client

    def _sync(self) -> SyncFacts:
        if self.context.sync is None:
            raise ApplicationError("no sync store configured", non_retryable=True)
        return self.context.sync

    def _erp(self) -> ErpPort:
        if self.context.erp is None:
            raise ApplicationError("no ERP configured for the sync's lag", non_retryable=True)
        return self.context.erp
