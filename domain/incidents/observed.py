"""A process as the incident console sees it now: its run, how its execution and its business
stand and since when, the steps it waits on, and the steps it completed.

The repair job builds one from Temporal (describe and history) before it acts on a process, to
see whether the process moved since the plan, and again afterwards, for the action's own success
check (`domain.incidents.checks`). Pure models and rules; no Temporal import.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel, Field

from domain.approvals.contract import APPROVAL_STATUS
from domain.approvals.contract import WORKFLOW_NAME as APPROVAL_WORKFLOW
from domain.orders.contract import ORDER_STATUS
from domain.orders.contract import WORKFLOW_NAME as ORDER_WORKFLOW
from domain.visibility import PROCESS_STATUS


class Execution(StrEnum):
    """Temporal's execution status, spelled as visibility queries spell it."""

    RUNNING = "Running"
    COMPLETED = "Completed"
    FAILED = "Failed"
    CANCELED = "Canceled"
    TERMINATED = "Terminated"
    CONTINUED_AS_NEW = "ContinuedAsNew"
    TIMED_OUT = "TimedOut"

    @property
    def closed(self) -> bool:
        return self is not Execution.RUNNING


# Where each process kind keeps its business status; the others use the generic keyword.
_STATUS_ATTRIBUTE = {ORDER_WORKFLOW: ORDER_STATUS.name, APPROVAL_WORKFLOW: APPROVAL_STATUS.name}


def business_status(
    workflow_type: str, attributes: Mapping[str, object], execution: Execution
) -> str:
    """The status a person knows the process by: the order's OrderStatus, the approval's
    ApprovalStatus, ProcessStatus for the other kinds. A run that failed, was terminated,
    cancelled or timed out never got to say so in its own status: then the execution status."""
    if execution not in (Execution.RUNNING, Execution.COMPLETED):
        return execution.value
    value = attributes.get(_STATUS_ATTRIBUTE.get(workflow_type, PROCESS_STATUS.name))
    if isinstance(value, list | tuple):
        value = value[0] if value else None
    return str(value) if value else execution.value


class StepOptions(BaseModel):
    """A pending step's timeouts and retry policy as Temporal holds them now (None: not set)."""

    initial_interval: timedelta | None = None
    backoff_coefficient: float | None = None
    maximum_interval: timedelta | None = None
    maximum_attempts: int | None = None  # 0: unlimited
    start_to_close_timeout: timedelta | None = None
    schedule_to_close_timeout: timedelta | None = None
    heartbeat_timeout: timedelta | None = None


class PendingStep(BaseModel):
    """An activity the process waits on."""

    activity_id: str
    step: str  # the activity's name (`capture_payment`)
    attempt: int
    paused: bool = False
    last_failure: str | None = None
    next_retry: datetime | None = None
    options: StepOptions | None = None


class CompletedStep(BaseModel):
    activity_id: str
    step: str


class Observed(BaseModel):
    workflow_id: str
    run_id: str  # the current run
    workflow_type: str
    execution: Execution
    status: str  # business_status(...)
    state_since: datetime | None = None
    pending: list[PendingStep] = Field(default_factory=list)
    # Read from the run's history only when a check needs it (retry: did the step complete?).
    completed: list[CompletedStep] | None = None

    def pending_step(self, step: str | None) -> list[PendingStep]:
        """The pending activities of `step`; every pending one when `step` is None."""
        return [p for p in self.pending if step is None or p.step == step]
