"""What `find` reports for one process: where it stands and why it is there (the step it waits
on, the attempt, the last failure, the next retry). Pure models; the kernel fills them from
visibility and each process's description."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from domain.incidents.contract import Target


class PendingStep(BaseModel):
    """An activity the process is waiting on, as Temporal describes it."""

    name: str
    state: str  # Scheduled, Started, CancelRequested, Paused, PauseRequested
    attempt: int = 1
    maximum_attempts: int | None = None  # None: unlimited
    last_failure: str | None = None
    failure_type: str | None = None  # the ApplicationError type, e.g. "ErpUnavailable"
    last_failed_at: datetime | None = None
    next_retry: datetime | None = None
    paused: bool = False

    @property
    def retrying(self) -> bool:
        return self.attempt > 1 or self.last_failure is not None


class Finding(BaseModel):
    workflow_id: str
    run_id: str
    workflow_type: str
    execution: str  # Temporal's: Running, Completed, Failed, Cancelled, Terminated, ...
    status: str  # the business status (OrderStatus, ApprovalStatus, ProcessStatus) or execution
    started_at: datetime | None = None
    closed_at: datetime | None = None
    state_since: datetime | None = None
    customer_id: str | None = None
    steps: list[PendingStep] = Field(default_factory=list)

    @property
    def step(self) -> PendingStep | None:
        """The step that explains the process best: the one with the most failed attempts."""
        return max(self.steps, key=lambda s: s.attempt, default=None)

    def target(self) -> Target:
        """The process as a plan freezes it."""
        step = self.step
        return Target(
            workflow_id=self.workflow_id,
            run_id=self.run_id,
            workflow_type=self.workflow_type,
            status=self.status,
            state_since=self.state_since,
            step=step.name if step else None,
            attempt=step.attempt if step else None,
            last_failure=step.last_failure if step else None,
        )
