"""What the watchdog makes of what it saw: the visibility queries that find candidates, the
judgement of a retrying step, and the words of each condition. Pure; the activities ask Temporal
and the store, and hand the answers here.

A condition's summary is fixed in its Alert when the alert starts, so it names the condition, never
a figure that moves; the figures of the moment go to its detail, which each observation updates.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from pydantic import BaseModel

from domain.business_calendar import BusinessCalendar
from domain.durations import spoken
from domain.figures import SuccessFigure, literal, one_of
from domain.visibility import STATE_SINCE
from domain.watchdog.contract import Condition
from domain.watchdog.rules import (
    BacklogRule,
    FailureRateRule,
    NoWorkerRule,
    Per,
    Process,
    RetryingRule,
    StalledRule,
    SyncIdleRule,
    SyncLagRule,
    SyncQuarantineRule,
)

# Temporal's own flag on a workflow whose workflow tasks keep failing (server ≥ 1.30), e.g. a
# deploy that broke replay.
REPORTED_PROBLEMS = "TemporalReportedProblems"
WORKFLOW_TASK = "workflow task"


def _running(process: Process) -> str:
    return f"WorkflowType = '{process.workflow_type}' AND ExecutionStatus = 'Running'"


def _in_status(process: Process, statuses: Sequence[str]) -> str:
    return f"{process.status_attribute} IN {one_of(statuses)}"


def stalled_query(rule: StalledRule, now: datetime, calendar: BusinessCalendar) -> str:
    process = rule.kind_of
    query = f"{_running(process)} AND {_in_status(process, rule.status)}"
    if rule.longer_than is not None:
        cutoff = rule.longer_than.cutoff(now, calendar)
        query += f" AND {STATE_SINCE.name} < '{literal(cutoff)}'"
    return query


def retrying_candidates_query(rule: RetryingRule, now: datetime) -> str:
    """Processes in a working status unchanged for `unchanged_for`, or flagged by Temporal: the
    only ones described, so the cost does not grow with the processes parked elsewhere."""
    process = rule.kind_of
    cutoff = now - rule.unchanged_for.as_timedelta()
    unchanged = f"{STATE_SINCE.name} < '{literal(cutoff)}'"
    if rule.status:
        unchanged = f"{_in_status(process, rule.status)} AND {unchanged}"
    return f"{_running(process)} AND ({unchanged} OR {REPORTED_PROBLEMS} IS NOT NULL)"


class Stalled(BaseModel):
    workflow_id: str
    status: str
    since: datetime | None


def stalled_conditions(
    rule: StalledRule, count: int, listed: Sequence[Stalled], now: datetime
) -> tuple[list[Condition], bool]:
    """The conditions, and whether they are the whole picture (a capped list is not)."""
    if not count:
        return [], True
    noun = rule.kind_of.noun
    over = f" longer than {rule.longer_than}" if rule.longer_than else ""
    if rule.per is Per.PROCESS:
        return [
            Condition(
                subject=s.workflow_id,
                summary=rule.summary or f"{noun} {s.workflow_id} is {s.status}{over}",
                detail=f"{s.status} for {_age(s.since, now)}",
            )
            for s in listed
        ], count <= len(listed)
    statuses = "|".join(rule.status)
    names = ", ".join(f"{s.workflow_id} ({_age(s.since, now)})" for s in listed)
    more = f" and {count - len(listed)} more" if count > len(listed) else ""
    return [
        Condition(
            subject=f"{noun} {statuses}",
            summary=rule.summary or f"{noun}s {statuses}{over}",
            detail=f"{count} now: {names}{more}",
        )
    ], True


def _age(since: datetime | None, now: datetime) -> str:
    if since is None:
        return "an unknown time"
    return spoken(_whole(max(now - since, timedelta(0))))


class PendingStep(BaseModel):
    """A step a candidate waits on: an activity, or its workflow task."""

    workflow_id: str
    step: str
    attempt: int
    since: datetime | None  # when its first attempt was scheduled, if known
    last_failure: str = ""
    paused: bool = False


def is_retrying(rule: RetryingRule, step: PendingStep, now: datetime) -> bool:
    """Attempt ≥ N, or retrying longer than the rule allows; a paused step is a person's."""
    if step.paused or step.attempt < 2:
        return False
    if rule.attempts is not None and step.attempt >= rule.attempts:
        return True
    if rule.longer_than is not None and step.since is not None:
        return now - step.since >= rule.longer_than.as_timedelta()
    return False


def retrying_conditions(
    rule: RetryingRule, found: Sequence[PendingStep], now: datetime
) -> list[Condition]:
    noun = rule.kind_of.noun
    if rule.per is Per.PROCESS:
        return [
            Condition(
                subject=s.workflow_id,
                summary=rule.summary or f"{noun} {s.workflow_id} retrying {s.step}",
                detail=_step_detail(s, now),
            )
            for s in found
        ]
    groups: dict[str, list[PendingStep]] = {}
    for s in found:
        key = s.step if rule.per is Per.STEP else "*"
        groups.setdefault(key, []).append(s)
    conditions = []
    for key, steps in sorted(groups.items()):
        worst = max(steps, key=lambda s: (s.attempt, -(s.since or now).timestamp()))
        what = f"step {key}" if rule.per is Per.STEP else "a step"
        subject = f"{noun} step {key}" if rule.per is Per.STEP else f"{noun} retrying"
        ids = ", ".join(s.workflow_id for s in steps[:20])
        more = f" and {len(steps) - 20} more" if len(steps) > 20 else ""
        conditions.append(
            Condition(
                subject=subject,
                summary=rule.summary or f"{noun}s retrying {what}",
                detail=f"{len(steps)} now; worst: {worst.workflow_id} {_step_detail(worst, now)};"
                f" {ids}{more}",
            )
        )
    return conditions


def _step_detail(step: PendingStep, now: datetime) -> str:
    failure = f"; last failure: {step.last_failure}" if step.last_failure else ""
    return f"{step.step} attempt {step.attempt} for {_age(step.since, now)}{failure}"


class QueueState(BaseModel):
    """One task queue of one type (workflow or activity), as DescribeTaskQueue tells it."""

    task_queue: str
    kind: str  # "workflow" or "activity"
    backlog: int
    oldest: timedelta
    last_poll: datetime | None  # the newest poll of any worker; None: no poller remembered


def backlog_conditions(rule: BacklogRule, queues: Sequence[QueueState]) -> list[Condition]:
    over = []
    for q in queues:
        if rule.count_over is not None and q.backlog > rule.count_over:
            over.append(f"{q.kind} backlog {q.backlog} > {rule.count_over}")
        if rule.age_over is not None and q.oldest > rule.age_over.as_timedelta():
            over.append(f"{q.kind} tasks waiting {spoken(_whole(q.oldest))} > {rule.age_over}")
    if not over:
        return []
    return [
        Condition(
            subject=f"task-queue {rule.task_queue}",
            summary=rule.summary or f"task queue {rule.task_queue} is backed up",
            detail="; ".join(over),
        )
    ]


def no_worker_conditions(
    rule: NoWorkerRule, queues: Sequence[QueueState], now: datetime
) -> list[Condition]:
    """A queue type nobody has polled for `no_poller_for` (the server remembers pollers for
    minutes after they stop, so the newest poll's age is the measure, not their number)."""
    allowance = rule.no_poller_for.as_timedelta()
    silent = [
        f"{q.kind} tasks: "
        + ("never polled" if q.last_poll is None else f"last poll {_age(q.last_poll, now)} ago")
        for q in queues
        if q.last_poll is None or now - q.last_poll > allowance
    ]
    if not silent:
        return []
    return [
        Condition(
            subject=f"task-queue {rule.task_queue}",
            summary=rule.summary or f"no worker polls task queue {rule.task_queue}",
            detail="; ".join(silent),
        )
    ]


def _whole(duration: timedelta) -> timedelta:
    return duration // timedelta(seconds=1) * timedelta(seconds=1)


def failure_rate_conditions(rule: FailureRateRule, figure: SuccessFigure) -> list[Condition]:
    """The report's success rate (domain.figures) over the window, below the rule's line."""
    rate = figure.rate
    if figure.closed < rule.min_closed or rate is None or rate >= rule.below:
        return []
    return [
        Condition(
            subject="orders",
            summary=rule.summary
            or f"order success rate below {rule.below:.0%} over the last {rule.window}",
            detail=f"{rate:.1%}: {figure.succeeded} of {figure.closed} closed orders succeeded",
        )
    ]


class FeedLag(BaseModel):
    feed: str
    lag: timedelta | None  # None: the sync never ran this feed


def sync_lag_conditions(rule: SyncLagRule, lags: Sequence[FeedLag]) -> list[Condition]:
    allowance = rule.lag_over.as_timedelta()
    late = [f for f in lags if f.lag is None or f.lag > allowance]
    if not late:
        return []
    what = "; ".join(
        f"{f.feed}: " + ("never synced" if f.lag is None else f"{spoken(_whole(f.lag))} behind")
        for f in late
    )
    return [
        Condition(
            subject="sync lag",
            summary=rule.summary or f"the CRM trails the ERP by more than {rule.lag_over}",
            detail=what,
        )
    ]


def quarantine_conditions(rule: SyncQuarantineRule, added: int) -> list[Condition]:
    if added < rule.grew_by:
        return []
    return [
        Condition(
            subject="sync quarantine",
            summary=rule.summary
            or f"the sync put {rule.grew_by} or more records aside within {rule.within}",
            detail=f"{added} new open quarantine entries (threshold {rule.grew_by})",
        )
    ]


def idle_conditions(
    rule: SyncIdleRule, last_completed: datetime | None, every: timedelta, now: datetime
) -> list[Condition]:
    """No sync completed for `intervals` sync intervals."""
    allowance = every * rule.intervals
    if last_completed is not None and now - last_completed <= allowance:
        return []
    when = "never" if last_completed is None else f"{_age(last_completed, now)} ago"
    return [
        Condition(
            subject="sync runs",
            summary=rule.summary or f"no ERP→CRM sync completed for {rule.intervals} intervals",
            detail=f"last completed sync: {when} (interval {spoken(every)})",
        )
    ]
