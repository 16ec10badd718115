"""The Watchdog process's contract: its schedule, its workflow, and what its steps hand on.

A Temporal Schedule starts one `Watchdog` run per interval on the ops task queue. A run evaluates
every rule (one activity each), then tells each condition's Alert what it saw: `observe(firing)`
by signal-with-start for what fires, `observe(clear)` for an open alert of a rule evaluated in
full that no longer fires. Pure names and models (no Temporal import).
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from domain.alerts.contract import TASK_QUEUE as OPS_TASK_QUEUE

WORKFLOW_NAME = "Watchdog"
WORKFLOW_ID = "watchdog"  # the schedule's runs: watchdog-<time>
SCHEDULE_ID = "continuum-watchdog"
TASK_QUEUE = OPS_TASK_QUEUE

# The ops worker's gauge: the end of the watchdog's last complete run, for the dead-man's switch
# (Prometheus adds nothing: a gauge keeps its name).
LAST_RUN_METRIC = "continuum_watchdog_last_run_timestamp_seconds"


class WatchdogRun(BaseModel):
    """What the schedule starts a run with; `rules` narrows it (a test, an operator's check)."""

    rules: list[str] = Field(default_factory=list)


class RuleSet(BaseModel):
    rules: list[str]


class EvaluateRequest(BaseModel):
    rule: str
    at: datetime  # the run's time: every rule is judged as of the same instant


class Condition(BaseModel):
    """One thing a rule finds firing: the subject is what its alert is about."""

    subject: str  # e.g. "order-O-17", "task-queue continuum-orders", "step reserve_stock"
    summary: str
    detail: str = ""


class RuleEvaluation(BaseModel):
    rule: str
    conditions: list[Condition] = Field(default_factory=list)
    # False when the evaluation saw only part of the picture (a cap, an error): its open alerts
    # are then left alone, never cleared on half the evidence.
    complete: bool = True
    note: str = ""
    error: str | None = None


class ObserveRequest(BaseModel):
    at: datetime
    evaluations: list[RuleEvaluation]


class Observed(BaseModel):
    firing: list[str] = Field(default_factory=list)  # alert workflow ids told "firing"
    cleared: list[str] = Field(default_factory=list)  # alert workflow ids told "clear"


class WatchdogReport(BaseModel):
    at: datetime
    rules: int
    firing: list[str] = Field(default_factory=list)
    cleared: list[str] = Field(default_factory=list)
    errors: dict[str, str] = Field(default_factory=dict)  # rule → why it could not be judged
