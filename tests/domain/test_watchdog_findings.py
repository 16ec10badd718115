"""What the watchdog makes of what it saw, as pure judgements: a retrying step, a silent queue, a
backlog, the success rate, the sync; and the queries that keep parked processes out of it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pydantic import TypeAdapter

from domain.figures import SuccessFigure
from domain.watchdog.findings import (
    FeedLag,
    PendingStep,
    QueueState,
    backlog_conditions,
    failure_rate_conditions,
    idle_conditions,
    is_retrying,
    no_worker_conditions,
    retrying_candidates_query,
    sync_lag_conditions,
)
from domain.watchdog.rules import (
    BacklogRule,
    FailureRateRule,
    NoWorkerRule,
    RetryingRule,
    Rule,
    SyncIdleRule,
    SyncLagRule,
)

NOW = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
BASE = {"name": "r", "severity": "critical", "runbook": "type=order"}


def rule(**fields: object) -> Rule:
    return TypeAdapter(Rule).validate_python({**BASE, **fields})


def step(attempt: int, since: datetime | None = None, paused: bool = False) -> PendingStep:
    return PendingStep(
        workflow_id="order-O-1", step="reserve_stock", attempt=attempt, since=since, paused=paused
    )


def test_a_step_retries_from_its_second_attempt_and_a_paused_one_is_a_persons() -> None:
    by_attempts = rule(kind="retrying", process="order", attempts=5)
    assert isinstance(by_attempts, RetryingRule)
    assert not is_retrying(by_attempts, step(4), NOW)
    assert is_retrying(by_attempts, step(5), NOW)
    assert not is_retrying(by_attempts, step(9, paused=True), NOW)
    by_time = rule(kind="retrying", process="order", longer_than="10m")
    assert isinstance(by_time, RetryingRule)
    assert not is_retrying(by_time, step(1, NOW - timedelta(hours=1)), NOW)
    assert not is_retrying(by_time, step(3, NOW - timedelta(minutes=9)), NOW)
    assert is_retrying(by_time, step(3, NOW - timedelta(minutes=10)), NOW)
    assert not is_retrying(by_time, step(3, None), NOW)  # no first attempt known: not guessed


def test_retrying_candidates_are_working_statuses_unchanged_or_flagged_by_temporal() -> None:
    found = rule(
        kind="retrying", process="order", status=["Processing"], attempts=3, unchanged_for="2m"
    )
    assert isinstance(found, RetryingRule)
    assert retrying_candidates_query(found, NOW) == (
        "WorkflowType = 'OrderToCash' AND ExecutionStatus = 'Running' AND "
        "(OrderStatus IN ('Processing') AND StateSince < '2026-12-07T09:58:00.000000Z'"
        " OR TemporalReportedProblems IS NOT NULL)"
    )


def test_a_queue_is_silent_when_its_newest_poll_is_older_than_the_allowance() -> None:
    silent = rule(kind="no-worker", task_queue="q", no_poller_for="75s")
    assert isinstance(silent, NoWorkerRule)

    def queue(kind: str, last_poll: datetime | None) -> QueueState:
        return QueueState(
            task_queue="q", kind=kind, backlog=0, oldest=timedelta(0), last_poll=last_poll
        )

    live = [queue("workflow", NOW - timedelta(seconds=60)), queue("activity", NOW)]
    assert no_worker_conditions(silent, live, NOW) == []
    gone = [queue("workflow", NOW - timedelta(seconds=80)), queue("activity", None)]
    [condition] = no_worker_conditions(silent, gone, NOW)
    assert condition.subject == "task-queue q"
    assert condition.detail == "workflow tasks: last poll 1m20s ago; activity tasks: never polled"


def test_a_backlog_over_its_count_or_age_fires_with_what_was_over() -> None:
    backed = rule(kind="backlog", task_queue="q", count_over=10, age_over="2m")
    assert isinstance(backed, BacklogRule)
    fine = QueueState(
        task_queue="q", kind="activity", backlog=10, oldest=timedelta(minutes=2), last_poll=NOW
    )
    assert backlog_conditions(backed, [fine]) == []
    old = fine.model_copy(update={"oldest": timedelta(minutes=3)})
    [condition] = backlog_conditions(backed, [old])
    assert condition.detail == "activity tasks waiting 3m > 2m"


def test_the_success_rate_needs_enough_closed_orders_to_say_anything() -> None:
    rate = rule(kind="failure-rate", window="1h", min_closed=10)
    assert isinstance(rate, FailureRateRule)
    assert failure_rate_conditions(rate, SuccessFigure(label="1h", closed=9, succeeded=0)) == []
    assert failure_rate_conditions(rate, SuccessFigure(label="1h", closed=100, succeeded=98)) == []
    [low] = failure_rate_conditions(rate, SuccessFigure(label="1h", closed=100, succeeded=97))
    assert low.summary == "order success rate below 98% over the last 1h"
    assert low.detail == "97.0%: 97 of 100 closed orders succeeded"


def test_the_sync_is_idle_after_its_intervals_and_late_when_never_synced() -> None:
    idle = rule(kind="sync-idle", intervals=2)
    assert isinstance(idle, SyncIdleRule)
    every = timedelta(minutes=5)
    assert idle_conditions(idle, NOW - timedelta(minutes=10), every, NOW) == []
    [late] = idle_conditions(idle, NOW - timedelta(minutes=11), every, NOW)
    assert late.detail == "last completed sync: 11m ago (interval 5m)"
    [never] = idle_conditions(idle, None, every, NOW)
    assert never.detail.startswith("last completed sync: never")
    lag = rule(kind="sync-lag", lag_over="30m")
    assert isinstance(lag, SyncLagRule)
    lags = [FeedLag(feed="orders", lag=timedelta(0)), FeedLag(feed="customers", lag=None)]
    [behind] = sync_lag_conditions(lag, lags)
    assert behind.detail == "customers: never synced"
