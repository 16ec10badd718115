"""Where a reset may go: never before a step or an undo that ran.

A reset keeps a run's history up to a workflow task and forgets the rest; the process then runs
again from there. What it forgets, it does again, and the ERP answers a repeated idempotency key
with its first answer: forget a refund that ran, and the re-run capture is answered "captured"
although the money went back. So a reset goes only to a point after everything that ran (every
completed activity, every child workflow or external signal it started), and only when a failed
step comes after that point (the reset is there to run that step again). The history of the run
arrives here as `Mark`s, read from Temporal's events by the repair's activity.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel


class Kind(StrEnum):
    TASK_DONE = "task-done"  # a workflow task completed: a point a reset may go to
    SCHEDULED = "scheduled"  # an activity was scheduled (by the task in `by_task`)
    COMPLETED = "completed"  # an activity completed: it ran, never forget it
    FAILED = "failed"  # an activity failed, timed out or was cancelled: it may run again
    EFFECT = "effect"  # a child workflow started, an external signal or cancel sent: it ran


class Mark(BaseModel):
    event_id: int
    kind: Kind
    step: str = ""  # the activity's name (SCHEDULED)
    by_task: int | None = None  # SCHEDULED: the WORKFLOW_TASK_COMPLETED event that scheduled it
    scheduled: int | None = None  # COMPLETED, FAILED: the SCHEDULED event it ends


class ResetPoint(BaseModel):
    event_id: int  # the WORKFLOW_TASK_COMPLETED event to reset to
    reruns: list[str]  # the steps that run again from there (none of them had completed), in order
    kept: str | None  # the last step that ran (kept, with everything before it)

    def describe(self) -> str:
        again = ", ".join(self.reruns) if self.reruns else "the process's own code"
        after = f"; keeps everything up to {self.kept}" if self.kept else ""
        return f"reset to event {self.event_id}: runs {again} again{after}"


class NoSafePoint(ValueError):
    """No reset point forgets nothing that ran and runs a failed step again; says why."""


def safe_reset_point(marks: list[Mark], failed_run: bool = False) -> ResetPoint:
    """The earliest point after everything that ran, where a failed step is scheduled again.

    `failed_run`: the run itself failed, timed out or was terminated; without a failed step after
    the last one that ran, its own code then runs again from the first task after that step.
    """
    scheduled = {m.event_id: m for m in marks if m.kind is Kind.SCHEDULED}
    ran = [m for m in marks if m.kind in (Kind.COMPLETED, Kind.EFFECT)]
    last = max((m.event_id for m in ran), default=0)
    kept = _name(max(ran, key=lambda m: m.event_id), scheduled) if ran else None
    # Each failed step with the event that ended it.
    failed = [
        (scheduled[m.scheduled], m.event_id)
        for m in marks
        if m.kind is Kind.FAILED and m.scheduled in scheduled
    ]
    after = sorted((s for s, ended in failed if ended > last), key=lambda s: s.event_id)
    if after:
        first = after[0]
        if first.by_task is None or first.by_task < last:
            raise NoSafePoint(
                f"{first.step} was started before {kept} completed: a reset before"
                f" {first.step} would forget {kept}"
            )
        return ResetPoint(event_id=first.by_task, reruns=_from(first.by_task, scheduled), kept=kept)
    tasks = sorted(m.event_id for m in marks if m.kind is Kind.TASK_DONE and m.event_id > last)
    if failed_run and tasks:
        return ResetPoint(event_id=tasks[0], reruns=_from(tasks[0], scheduled), kept=kept)
    if failed:
        last_failed = max(failed, key=lambda f: f[1])[0]
        raise NoSafePoint(
            f"{last_failed.step} failed before {kept} ran: a reset before it would forget {kept}"
        )
    raise NoSafePoint("no step failed after the last one that ran: nothing to run again")


def _from(point: int, scheduled: dict[int, Mark]) -> list[str]:
    """The steps scheduled after `point`: none of them completed, so all run again."""
    return [s.step for event_id, s in sorted(scheduled.items()) if event_id > point]


def _name(mark: Mark, scheduled: dict[int, Mark]) -> str:
    if mark.kind is Kind.COMPLETED and mark.scheduled in scheduled:
        return scheduled[mark.scheduled].step
    return mark.step or f"event {mark.event_id}"
