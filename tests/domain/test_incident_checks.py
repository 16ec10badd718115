"""Each repair action's own success check, the "moved since the plan" rule, and plan params."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from domain.incidents.checks import Applied, check, moved, next_look, reset_problem
from domain.incidents.contract import Action, Target
from domain.incidents.observed import (
    CompletedStep,
    Execution,
    Observed,
    PendingStep,
    StepOptions,
    business_status,
)
from domain.incidents.params import params_problem, parse_duration, step_options

SINCE = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)
TARGET = Target(
    workflow_id="order-O-1",
    run_id="run-1",
    workflow_type="OrderToCash",
    status="AwaitingDelivery",
    state_since=SINCE,
    step="confirm_delivery",
    attempt=4,
)
RETRYING = PendingStep(activity_id="9", step="confirm_delivery", attempt=4, last_failure="503")


def seen(**changes: object) -> Observed:
    base = Observed(
        workflow_id="order-O-1",
        run_id="run-1",
        workflow_type="OrderToCash",
        execution=Execution.RUNNING,
        status="AwaitingDelivery",
        state_since=SINCE,
        pending=[RETRYING],
    )
    return base.model_copy(update=changes)


def test_business_status_is_the_kinds_own_and_a_failed_run_says_so() -> None:
    attrs = {"OrderStatus": "Processing", "ProcessStatus": "Syncing"}
    assert business_status("OrderToCash", attrs, Execution.RUNNING) == "Processing"
    assert business_status("ErpCrmSync", attrs, Execution.RUNNING) == "Syncing"
    assert business_status("OrderToCash", attrs, Execution.TERMINATED) == "Terminated"
    assert business_status("Approval", {}, Execution.COMPLETED) == "Completed"


def test_a_process_moved_when_its_run_status_state_or_step_changed() -> None:
    assert moved(Action.RETRY, TARGET, seen()) is None
    assert "another run" in (moved(Action.RETRY, TARGET, seen(run_id="run-2")) or "")
    completed = moved(Action.RETRY, TARGET, seen(status="Completed", pending=[]))
    assert completed == "its status is now Completed (the plan saw AwaitingDelivery)"
    later = seen(state_since=SINCE + timedelta(minutes=1))
    assert "state changed" in (moved(Action.SIGNAL, TARGET, later) or "")
    assert moved(Action.RETRY, TARGET, seen(pending=[])) == "confirm_delivery is no longer pending"
    assert moved(Action.TERMINATE, TARGET, seen(pending=[])) is None


def test_retry_is_fixed_only_when_the_retried_step_completed() -> None:
    applied = Applied(run_id="run-1", activity_ids=["9"])
    still = check(Action.RETRY, {}, TARGET, applied, seen(completed=[]))
    assert not still.ok and "still pending (attempt 4, last failure: 503)" in still.detail
    done = seen(
        pending=[], status="Completed", completed=[CompletedStep(activity_id="9", step="x")]
    )
    assert check(Action.RETRY, {}, TARGET, applied, done).ok
    gone = check(Action.RETRY, {}, TARGET, applied, seen(pending=[], completed=[]))
    assert not gone.ok and "did not complete" in gone.detail


def test_cancel_reset_signal_terminate_checks() -> None:
    applied = Applied(run_id="run-1")
    closed = seen(execution=Execution.COMPLETED, pending=[])
    assert check(
        Action.CANCEL, {}, TARGET, applied, closed.model_copy(update={"status": "Compensated"})
    ).ok
    assert not check(Action.CANCEL, {}, TARGET, applied, seen(status="Compensating")).ok
    reset = Applied(run_id="run-2")
    new_run = closed.model_copy(update={"run_id": "run-2", "status": "Compensated"})
    assert check(Action.RESET, {}, TARGET, reset, new_run).ok
    waits = seen(run_id="run-2", status="AwaitingDelivery")
    assert check(Action.RESET, {}, TARGET, reset, waits).ok
    stuck = new_run.model_copy(update={"status": "NeedsAttention"})
    assert not check(Action.RESET, {}, TARGET, reset, stuck).ok
    assert not check(Action.SIGNAL, {}, TARGET, applied, seen()).ok
    assert check(Action.SIGNAL, {}, TARGET, applied, seen(status="Invoicing")).ok
    assert check(Action.TERMINATE, {}, TARGET, applied, seen(execution=Execution.TERMINATED)).ok


def test_pause_unpause_and_options_checks() -> None:
    applied = Applied(run_id="run-1", activity_ids=["9"])
    paused = seen(pending=[RETRYING.model_copy(update={"paused": True})])
    assert check(Action.PAUSE, {}, TARGET, applied, paused).ok
    assert not check(Action.PAUSE, {}, TARGET, applied, seen()).ok
    assert check(Action.UNPAUSE, {}, TARGET, applied, seen()).ok
    assert not check(Action.UNPAUSE, {}, TARGET, applied, paused).ok
    params = {"maximum_interval": "10m"}
    slow = StepOptions(maximum_interval=timedelta(minutes=10), maximum_attempts=0)
    updated = seen(pending=[RETRYING.model_copy(update={"options": slow})])
    assert check(Action.RETRY_OPTIONS, params, TARGET, applied, updated).ok
    assert not check(Action.RETRY_OPTIONS, params, TARGET, applied, seen()).ok


def test_reset_is_only_for_failed_or_needs_attention_runs() -> None:
    assert "still running" in (reset_problem(seen()) or "")
    done = seen(execution=Execution.COMPLETED, status="Compensated")
    assert reset_problem(done) == "it ended Compensated: nothing to run again"
    assert reset_problem(done.model_copy(update={"status": "NeedsAttention"})) is None
    assert reset_problem(seen(execution=Execution.FAILED, status="Failed")) is None


def test_plan_params_are_read_or_refused_in_one_line() -> None:
    assert parse_duration("1h30m", "x") == timedelta(minutes=90)
    assert step_options({"maximum_interval": "5m", "maximum_attempts": "0"}) == StepOptions(
        maximum_interval=timedelta(minutes=5), maximum_attempts=0
    )
    assert params_problem(Action.RETRY, {}) is None
    assert params_problem(Action.RETRY, {"check_within": "90s"}) is None
    assert params_problem(Action.RETRY_OPTIONS, {}) is not None
    assert "not a duration" in (
        params_problem(Action.RETRY_OPTIONS, {"maximum_interval": "soon"}) or ""
    )
    assert "unknown retry option 'colour'" in (
        params_problem(Action.RETRY_OPTIONS, {"colour": "red"}) or ""
    )
    assert params_problem(Action.SIGNAL, {"signal": "delivered", "carrier": "DHL"}) is None
    assert "not one the console sends" in (params_problem(Action.SIGNAL, {"signal": "nope"}) or "")
    assert "not a comma-separated" in (params_problem(Action.REDRIVE, {"ids": "1,x"}) or "")
    assert (
        params_problem(Action.TERMINATE, {"force": "yes"})
        == "terminate: takes no parameter 'force'"
    )
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration("5 minutes", "check_within")


def test_the_recheck_looks_again_sooner_first_then_every_15_seconds() -> None:
    waits, wait = [], timedelta(0)
    for _ in range(6):
        wait = next_look(wait)
        waits.append(wait.total_seconds())
    assert waits == [1, 2, 4, 8, 15, 15]
