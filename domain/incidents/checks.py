"""Whether a repair worked, written down per action, and whether a process moved since its plan.

"Still running" is not "fixed": each action has its own success check, held against the process
as it is after the action (`Observed`):
- retry: the step it retried completed (by its activity id, in the run's history);
- pause / unpause: the step is paused / runs again (or completed);
- retry-options: the step now has the options asked for (or completed);
- cancel: the process closed cancelled or compensated;
- reset: the new run reached a clean end, or waits on a person or a carrier;
- signal: the state it was waiting in changed;
- terminate: the run is terminated;
- redrive: the quarantine entries were resolved (read from the re-drive's own result).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta

from pydantic import BaseModel, Field

from domain.incidents.contract import Action, Target
from domain.incidents.observed import Execution, Observed, PendingStep
from domain.incidents.params import step_options

# Actions on one pending step: the step named in the plan must still be pending.
STEP_ACTIONS = frozenset({Action.RETRY, Action.PAUSE, Action.UNPAUSE, Action.RETRY_OPTIONS})
# A process that ended in one of these has nothing left stranded.
_NOT_CLEAN = frozenset({"NeedsAttention", "Invalid"})
# Waiting on a person (an approver) or on the carrier: the process itself is fine.
WAITING = frozenset({"AwaitingApproval", "AwaitingDelivery", "DeliveryOverdue", "Pending"})
_CANCELLED = frozenset({"Cancelled", "Compensated"})


class Applied(BaseModel):
    """What an action did to one process: what its success check is held against."""

    run_id: str  # the run acted on; for a reset, the new run
    activity_ids: list[str] = Field(default_factory=list)  # the pending steps acted on
    detail: str = ""


class Verdict(BaseModel):
    ok: bool
    detail: str


def moved(action: Action, target: Target, now: Observed) -> str | None:
    """Why the process is not as the plan saw it (so it is skipped), or None."""
    if now.run_id != target.run_id:
        return f"it runs as another run now ({now.run_id}; the plan saw {target.run_id})"
    if now.status != target.status:
        return f"its status is now {now.status} (the plan saw {target.status})"
    if target.state_since and now.state_since and now.state_since != target.state_since:
        return f"its state changed at {now.state_since.isoformat()} (after the plan)"
    if action in STEP_ACTIONS and target.step and not now.pending_step(target.step):
        return f"{target.step} is no longer pending"
    return None


def reset_problem(now: Observed) -> str | None:
    """Why this process is not one to reset, or None: only a failed, timed out or terminated run,
    or one that ended NeedsAttention (an undo failed), runs again."""
    if now.execution is Execution.RUNNING:
        return "it is still running: a reset would end this run; retry or cancel it instead"
    if now.execution in (Execution.COMPLETED, Execution.CONTINUED_AS_NEW) and (
        now.status != "NeedsAttention"
    ):
        return f"it ended {now.status}: nothing to run again"
    return None


def _steps(now: Observed, ids: list[str]) -> list[PendingStep]:
    return [p for p in now.pending if p.activity_id in ids]


def _why_pending(p: PendingStep) -> str:
    state = "paused" if p.paused else f"attempt {p.attempt}"
    failure = f", last failure: {p.last_failure}" if p.last_failure else ""
    return f"{p.step} still pending ({state}{failure})"


def _retried(now: Observed, applied: Applied, step: str) -> Verdict:
    done = {c.activity_id for c in now.completed or []}
    if applied.activity_ids and set(applied.activity_ids) <= done:
        return Verdict(ok=True, detail=f"{step} completed; the process is {now.status}")
    if waiting := _steps(now, applied.activity_ids):
        return Verdict(ok=False, detail=_why_pending(waiting[0]))
    return Verdict(ok=False, detail=f"{step} did not complete; the process is {now.status}")


def _paused(now: Observed, applied: Applied, step: str, want: bool) -> Verdict:
    waiting = _steps(now, applied.activity_ids)
    done = {c.activity_id for c in now.completed or []}
    if want:
        if waiting and all(p.paused for p in waiting) and len(waiting) == len(applied.activity_ids):
            return Verdict(ok=True, detail=f"{step} is paused")
        return Verdict(ok=False, detail=f"{step} is not paused (the process is {now.status})")
    if any(p.paused for p in waiting):
        return Verdict(ok=False, detail=f"{step} is still paused")
    if waiting:
        return Verdict(ok=True, detail=f"{step} runs again (attempt {waiting[0].attempt})")
    if set(applied.activity_ids) <= done:
        return Verdict(ok=True, detail=f"{step} completed")
    return Verdict(ok=False, detail=f"{step} is gone; the process is {now.status}")


def _options_set(now: Observed, applied: Applied, step: str, params: Mapping[str, str]) -> Verdict:
    wanted = step_options(params).model_dump(exclude_none=True)
    for p in _steps(now, applied.activity_ids):
        have = p.options.model_dump() if p.options else {}
        differ = [k for k, v in wanted.items() if have.get(k) != v]
        if differ:
            return Verdict(ok=False, detail=f"{step}: {', '.join(differ)} not as planned")
    if not _steps(now, applied.activity_ids):
        done = {c.activity_id for c in now.completed or []}
        if set(applied.activity_ids) <= done:
            return Verdict(ok=True, detail=f"{step} completed")
        return Verdict(ok=False, detail=f"{step} is gone; the process is {now.status}")
    return Verdict(ok=True, detail=f"{step} has the new options")


def _clean(now: Observed) -> bool:
    return now.execution is Execution.COMPLETED and now.status not in _NOT_CLEAN


def check(
    action: Action,
    params: Mapping[str, str],
    target: Target,
    applied: Applied,
    now: Observed,
) -> Verdict:
    """The action's own success check (see the module's docstring)."""
    step = target.step or "the step"
    if action is Action.RESET:
        if now.run_id != applied.run_id:
            return Verdict(ok=False, detail=f"it runs as another run now ({now.run_id})")
        if _clean(now):
            return Verdict(ok=True, detail=f"the new run ended {now.status}")
        if now.execution is Execution.RUNNING and now.status in WAITING:
            return Verdict(ok=True, detail=f"the new run waits: {now.status}")
        return Verdict(ok=False, detail=f"the new run is {now.status}")
    if now.run_id != applied.run_id:
        return Verdict(ok=False, detail=f"it runs as another run now ({now.run_id})")
    if action is Action.RETRY:
        return _retried(now, applied, step)
    if action in (Action.PAUSE, Action.UNPAUSE):
        return _paused(now, applied, step, want=action is Action.PAUSE)
    if action is Action.RETRY_OPTIONS:
        return _options_set(now, applied, step, params)
    if action is Action.CANCEL:
        if now.execution.closed and now.status in _CANCELLED:
            return Verdict(ok=True, detail=f"it closed {now.status}")
        return Verdict(ok=False, detail=f"it is {now.status}, not cancelled or compensated")
    if action is Action.SIGNAL:
        if now.status != target.status or now.execution.closed:
            return Verdict(ok=True, detail=f"it moved on: {now.status}")
        if target.state_since and now.state_since and now.state_since != target.state_since:
            return Verdict(ok=True, detail=f"its state changed: {now.status}")
        return Verdict(ok=False, detail=f"it still waits: {now.status}")
    if action is Action.TERMINATE:
        if now.execution is Execution.TERMINATED:
            return Verdict(ok=True, detail="it is terminated")
        return Verdict(ok=False, detail=f"it is {now.execution.value}")
    raise ValueError(f"{action.value} is checked from its own result, not from the process")


def next_look(after: timedelta) -> timedelta:
    """How long the re-check waits before looking again: 1 s, doubling, at most 15 s."""
    return min(max(after * 2, timedelta(seconds=1)), timedelta(seconds=15))
