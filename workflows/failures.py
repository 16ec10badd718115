"""What a failed step says, in one sentence: the one place that reads an ActivityError's cause."""

from __future__ import annotations

from temporalio.exceptions import ActivityError, ApplicationError, ChildWorkflowError


def reason(err: ActivityError | ChildWorkflowError) -> str:
    """The message of the failure behind `err` (an ApplicationError's own words when it has one)."""
    cause = err.cause
    return cause.message if isinstance(cause, ApplicationError) else str(cause or err)
