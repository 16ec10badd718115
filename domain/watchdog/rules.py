"""The watchdog's rules: what stopped business looks like, one kind per way it stops.

- `stalled`: a process in one state longer than its allowance (clock or business time);
- `retrying`: a step retrying (attempt ≥ N, or longer than a duration), workflow tasks included;
- `backlog`: a task queue's backlog count or age over a threshold;
- `no-worker`: nobody has polled a task queue for a while;
- `failure-rate`: closed orders' success rate over a sliding window below the target;
- `sync-lag`, `sync-quarantine`, `sync-idle`: the ERP→CRM sync trailing, putting records aside,
  or not completing.

Each rule has a name (the alert's `AlertRule`, part of its fingerprint), a severity, a route
(default: its severity's), a runbook, and the hysteresis its Alert applies: `for` (firing that
long before anyone is paged) and `clear_after` (clear that long before it resolves).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from domain.alerts.contract import Severity
from domain.approvals.models import ApprovalStatus
from domain.events import contract as events
from domain.orders.models import OrderStatus
from domain.reports import SUCCESS_TARGET
from domain.sync.models import FEEDS
from domain.watchdog.spans import Span

# The business worker's queue (continuum.settings' default).
ORDERS_TASK_QUEUE = "continuum-orders"


class Process(BaseModel):
    """A process kind as visibility knows it: its workflow type and its status attribute."""

    model_config = ConfigDict(frozen=True)

    workflow_type: str
    status_attribute: str
    statuses: frozenset[str] | None = None  # None: any status is accepted
    noun: str


# One line per process kind (purchases join here).
PROCESSES: dict[str, Process] = {
    "order": Process(
        workflow_type="OrderToCash",
        status_attribute="OrderStatus",
        statuses=frozenset(s.value for s in OrderStatus),
        noun="order",
    ),
    "approval": Process(
        workflow_type="Approval",
        status_attribute="ApprovalStatus",
        statuses=frozenset(s.value for s in ApprovalStatus),
        noun="approval",
    ),
    "sync": Process(
        workflow_type="ErpCrmSync",
        status_attribute="ProcessStatus",
        statuses=frozenset({"Syncing", "Reconciling", "Done"}),
        noun="sync",
    ),
    "repair": Process(
        workflow_type="IncidentRepair", status_attribute="ProcessStatus", noun="repair job"
    ),
    # A process's business-event publisher: Delivering since its oldest undelivered event.
    "publisher": Process(
        workflow_type=events.PUBLISHER_WORKFLOW,
        status_attribute="ProcessStatus",
        statuses=frozenset({events.DELIVERING, events.IDLE}),
        noun="event publisher",
    ),
}


class Per(StrEnum):
    """What one alert is about: the rule as a whole, each process, or each failing step."""

    RULE = "rule"
    PROCESS = "process"
    STEP = "step"


def clock_span(span: Span, field: str) -> Span:
    """Business time is for `stalled` allowances; everything else is counted on the clock."""
    if span.is_business:
        raise ValueError(f"{field} is clock time here ({span.text} is business time)")
    return span


def _on_the_clock(span: Span | None, info: ValidationInfo) -> Span | None:
    return span if span is None else clock_span(span, info.field_name or "a duration")


class _Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")
    severity: Severity
    runbook: str = Field(min_length=1)
    route: str | None = None  # None: the route named after the severity
    summary: str | None = None  # what the alert says; None: made from the rule
    for_: Span = Field(default=Span.model_validate("0s"), alias="for")
    clear_after: Span = Span.model_validate("5m")
    per: Per = Per.RULE

    _hysteresis_on_the_clock = field_validator("for_", "clear_after")(_on_the_clock)


class _ProcessRule(_Rule):
    process: str

    @field_validator("process")
    @classmethod
    def _known_process(cls, value: str) -> str:
        if value not in PROCESSES:
            raise ValueError(f"unknown process {value!r} (one of {', '.join(PROCESSES)})")
        return value

    @field_validator("status", check_fields=False)
    @classmethod
    def _its_statuses(cls, statuses: list[str], info: ValidationInfo) -> list[str]:
        process = PROCESSES.get(info.data.get("process", ""))
        known = process.statuses if process else None
        if known is not None and (bad := [s for s in statuses if s not in known]):
            raise ValueError(
                f"status {', '.join(bad)} is not a {process.noun if process else ''} status"
                f" (one of {', '.join(sorted(known))})"
            )
        return statuses

    @property
    def kind_of(self) -> Process:
        return PROCESSES[self.process]


class StalledRule(_ProcessRule):
    kind: Literal["stalled"]
    status: list[str] = Field(min_length=1)
    longer_than: Span | None = None  # None: in that state at all (e.g. NeedsAttention)
    # How many subjects an evaluation names (per=rule) or raises alerts for (per=process).
    max_listed: int = Field(20, ge=1, le=500)

    @field_validator("per")
    @classmethod
    def _no_step(cls, per: Per) -> Per:
        if per is Per.STEP:
            raise ValueError("a stalled process has no failing step: rule or process")
        return per


class RetryingRule(_ProcessRule):
    kind: Literal["retrying"]
    # The statuses in which steps run (parked processes are never candidates); empty: any.
    status: list[str] = Field(default_factory=list)
    attempts: int | None = Field(None, ge=2)
    longer_than: Span | None = None
    # Candidates: processes whose state has not changed for this long (or flagged by Temporal
    # for failing workflow tasks), at most `max_candidates` per evaluation.
    unchanged_for: Span = Span.model_validate("1m")
    max_candidates: int = Field(200, ge=1, le=5000)
    per: Per = Per.STEP

    _spans_on_the_clock = field_validator("longer_than", "unchanged_for")(_on_the_clock)

    @model_validator(mode="after")
    def _threshold(self) -> RetryingRule:
        if self.attempts is None and self.longer_than is None:
            raise ValueError("attempts or longer_than: a retrying rule needs a threshold")
        return self


class BacklogRule(_Rule):
    kind: Literal["backlog"]
    task_queue: str = ORDERS_TASK_QUEUE
    count_over: int | None = Field(None, ge=0)
    age_over: Span | None = None

    _age_on_the_clock = field_validator("age_over")(_on_the_clock)

    @model_validator(mode="after")
    def _threshold(self) -> BacklogRule:
        if self.count_over is None and self.age_over is None:
            raise ValueError("count_over or age_over: a backlog rule needs a threshold")
        return self


class NoWorkerRule(_Rule):
    kind: Literal["no-worker"]
    task_queue: str = ORDERS_TASK_QUEUE
    # A live worker's last poll can be a minute old (long polls last about 60 s).
    no_poller_for: Span = Span.model_validate("75s")

    _on_the_clock = field_validator("no_poller_for")(_on_the_clock)


class FailureRateRule(_Rule):
    kind: Literal["failure-rate"]
    window: Span = Span.model_validate("1h")
    below: float = Field(SUCCESS_TARGET, gt=0, le=1)
    # Fewer closed orders than this in the window say nothing about the rate.
    min_closed: int = Field(10, ge=1)

    _on_the_clock = field_validator("window")(_on_the_clock)


class SyncLagRule(_Rule):
    kind: Literal["sync-lag"]
    lag_over: Span
    feeds: list[str] = Field(default_factory=lambda: [str(f) for f in FEEDS])

    _on_the_clock = field_validator("lag_over")(_on_the_clock)

    @field_validator("feeds")
    @classmethod
    def _known(cls, feeds: list[str]) -> list[str]:
        if bad := [f for f in feeds if f not in FEEDS]:
            raise ValueError(f"unknown feed {', '.join(bad)} (one of {', '.join(FEEDS)})")
        return feeds


class SyncQuarantineRule(_Rule):
    kind: Literal["sync-quarantine"]
    grew_by: int = Field(ge=1)  # records newly put aside ...
    within: Span = Span.model_validate("1h")  # ... within this window

    _on_the_clock = field_validator("within")(_on_the_clock)


class SyncIdleRule(_Rule):
    kind: Literal["sync-idle"]
    intervals: int = Field(2, ge=1)  # sync intervals (SYNC_EVERY_MINUTES) without a completed run


Rule = Annotated[
    StalledRule
    | RetryingRule
    | BacklogRule
    | NoWorkerRule
    | FailureRateRule
    | SyncLagRule
    | SyncQuarantineRule
    | SyncIdleRule,
    Field(discriminator="kind"),
]
KINDS = (
    "stalled",
    "retrying",
    "backlog",
    "no-worker",
    "failure-rate",
    "sync-lag",
    "sync-quarantine",
    "sync-idle",
)
