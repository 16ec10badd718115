"""The incident console's contract: the plan file and the bulk repair job that applies it.

A repair is a plan first: the exact processes (with the run and the state each was in), what will
happen to each, who, why, the ticket, and an HMAC signature under the installation's key. Applying
executes only that frozen list. Pure names and models (no Temporal import).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel, Field

WORKFLOW_NAME = "IncidentRepair"
TASK_QUEUE = "continuum-ops"
PLAN_FORMAT = "continuum-incident-plan/1"
KEY_ENV = "CONTINUUM_INCIDENT_KEY"


def workflow_id(plan_id: str) -> str:
    return f"repair-{plan_id}"


class Message:
    PROGRESS = "progress"  # query → RepairProgress


class Action(StrEnum):
    RETRY = "retry"  # reset the pending activity's attempts / unpause it: run it now
    PAUSE = "pause"  # pause the pending activity
    UNPAUSE = "unpause"
    RETRY_OPTIONS = "retry-options"  # change the step's retry policy or timeouts
    CANCEL = "cancel"  # the order's `cancel` update: compensation runs
    RESET = "reset"  # reset a failed / NeedsAttention process to a safe point; it runs again
    SIGNAL = "signal"  # deliver a signal (e.g. `delivered`)
    TERMINATE = "terminate"  # with a reason
    REDRIVE = "redrive"  # re-drive the sync quarantine


class Target(BaseModel):
    """One process as it was when the plan was made."""

    workflow_id: str
    run_id: str
    workflow_type: str
    status: str  # the business status (OrderStatus, ApprovalStatus, ...) or the execution status
    state_since: datetime | None = None
    step: str | None = None  # the pending (failing) activity, when there is one
    attempt: int | None = None
    last_failure: str | None = None


class PlanItem(BaseModel):
    target: Target
    what: str  # what will happen to it, in words


class Plan(BaseModel):
    format: str = PLAN_FORMAT
    plan_id: str
    action: Action
    # Action parameters (e.g. {"signal": "delivered", "carrier": "..."} or retry options).
    params: dict[str, str] = Field(default_factory=dict)
    where: str  # the operator's business-terms filter, as typed
    query: str  # the visibility query it compiled to (for the record; apply never re-runs it)
    items: list[PlanItem]
    operator: str
    reason: str
    ticket: str
    created_at: datetime
    valid_for: timedelta = timedelta(hours=1)
    canary: int = Field(1, ge=0)  # the first N items go first; a canary failure stops the job
    # Finite and bounded: the job's timers are made from it (NaN would fail its workflow task).
    rate_per_second: float = Field(5.0, gt=0, le=100, allow_inf_nan=False)
    signature: str = ""  # HMAC-SHA256 (hex) of the canonical JSON without this field


class ItemOutcome(StrEnum):
    FIXED = "fixed"  # the action's own success check holds
    NOT_FIXED = "not-fixed"  # acted, but the check does not hold (said why)
    SKIPPED = "skipped"  # its state moved since the plan, or the canary failed (said why)
    FAILED = "failed"  # the action itself was refused or errored


class ItemResult(BaseModel):
    workflow_id: str
    outcome: ItemOutcome
    detail: str = ""
    at: datetime


class RepairInput(BaseModel):
    plan: Plan
    applied_by: str
    # Carried across continue-as-new (a long plan): the results so far; an item that has one
    # is not acted on again.
    progress: RepairProgress | None = None


class RepairProgress(BaseModel):
    plan_id: str
    action: Action
    total: int
    done: int
    canary_passed: bool | None = None
    stopped: str | None = None  # why the job stopped early, if it did
    results: list[ItemResult] = Field(default_factory=list)
