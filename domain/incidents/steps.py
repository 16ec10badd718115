"""What the repair job asks its activities: act on one process, look at processes again, record
what happened. One request model per step, as `domain/orders/steps.py` does for orders."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, Field

from domain.incidents.checks import Applied, Verdict
from domain.incidents.contract import Action, ItemResult, RepairProgress, Target
from domain.incidents.observed import Observed


class ItemRequest(BaseModel):
    """Apply the plan's action to one process of its frozen list."""

    plan_id: str
    action: Action
    params: dict[str, str] = Field(default_factory=dict)
    target: Target
    applied_by: str
    reason: str
    ticket: str


class Acted(StrEnum):
    APPLIED = "applied"  # done; the success check decides whether it fixed anything
    SKIPPED = "skipped"  # the process moved since the plan: left alone
    FAILED = "failed"  # refused (by Temporal, the process, or the reset rule): nothing done


class ItemActed(BaseModel):
    acted: Acted
    detail: str
    applied: Applied | None = None
    # Set when the action's own result is its success check (the quarantine re-drive).
    verdict: Verdict | None = None


class Look(BaseModel):
    workflow_id: str
    run_id: str | None = None  # None: the current run


class LookRequest(BaseModel):
    processes: list[Look]
    completed_steps: bool = False  # read each run's history for the steps that completed


class Looked(BaseModel):
    """One per process asked, in order: what it is now, or why it could not be seen."""

    observed: list[Observed | None]
    problems: list[str]


class RepairRecord(BaseModel):
    """A job event for the audit: started, canary, an item's result, stopped, finished."""

    plan_id: str
    action: Action
    event: str  # store.incidents.AuditEvent's value
    applied_by: str
    detail: str = ""
    progress: RepairProgress | None = None
    results: list[ItemResult] = Field(default_factory=list)
    run_ids: dict[str, str] = Field(default_factory=dict)  # workflow id → the run acted on


class Recorded(BaseModel):
    added: int  # rows the audit did not have yet (a retried record adds none)


class Phase(StrEnum):
    """Where a repair job stands: its ProcessStatus search attribute."""

    CANARY = "Canary"
    APPLYING = "Applying"
    CHECKING = "Checking"
    DONE = "Done"
    STOPPED = "Stopped"
