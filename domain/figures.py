"""The live board's figures, each defined once: the visibility query that finds what it counts,
and the pure computation over what comes back. The board (continuum/board.py), the daily report
(activities/reports.py) and the watchdog read these, so that a figure means the same wherever
it is shown.

Success is the daily report's (domain.reports.outcome): an order that closed with its workflow
completed and its status Completed, Compensated, Rejected or Cancelled. Read as counts, the
board asks visibility for the orders that closed in a window and for those of them that
succeeded; the report lists them and classifies each; both give the same rate.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel, Field, computed_field, model_validator

from domain.alerts.contract import AlertStatus
from domain.orders import contract as orders
from domain.orders.models import OrderStatus
from domain.percentiles import percentile
from domain.reports import SUCCESS_TARGET, SUCCESSFUL_ORDER_STATUSES

# The business expects processing at least this much faster than by hand (−50 %).
IMPROVEMENT_GOAL = 0.5


def literal(moment: datetime) -> str:
    """A visibility query's datetime literal (RFC 3339, UTC)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def one_of(values: Iterable[str]) -> str:
    return "(" + ", ".join(f"'{v}'" for v in values) + ")"


def _closed_between(start: datetime, end: datetime) -> str:
    return f"CloseTime >= '{literal(start)}' AND CloseTime < '{literal(end)}'"


_ORDERS = f"WorkflowType = '{orders.WORKFLOW_NAME}'"


def closed_orders_query(start: datetime, end: datetime) -> str:
    """Every order that closed in [start, end): the success rate's denominator."""
    return f"{_ORDERS} AND ExecutionStatus != 'Running' AND {_closed_between(start, end)}"


def succeeded_orders_query(start: datetime, end: datetime) -> str:
    """Of those, the ones domain.reports.outcome counts as a success."""
    return (
        f"{_ORDERS} AND ExecutionStatus = 'Completed'"
        f" AND {orders.ORDER_STATUS.name} IN {one_of(SUCCESSFUL_ORDER_STATUSES)}"
        f" AND {_closed_between(start, end)}"
    )


def started_orders_query(start: datetime, end: datetime) -> str:
    return f"{_ORDERS} AND StartTime >= '{literal(start)}' AND StartTime < '{literal(end)}'"


def completed_orders_query(start: datetime, end: datetime) -> str:
    """Orders that ran to Completed (outcome COMPLETED): throughput, and the report's lead time."""
    return (
        f"{_ORDERS} AND ExecutionStatus = 'Completed'"
        f" AND {orders.ORDER_STATUS.name} = '{OrderStatus.COMPLETED.value}'"
        f" AND {_closed_between(start, end)}"
    )


# --- success rate -----------------------------------------------------------------------------


class SuccessFigure(BaseModel):
    label: str  # "last hour", "last 24 hours"
    closed: int
    succeeded: int
    target: float = SUCCESS_TARGET

    @computed_field  # type: ignore[prop-decorator]
    @property
    def rate(self) -> float | None:
        return self.succeeded / self.closed if self.closed else None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def meets_target(self) -> bool | None:
        rate = self.rate
        return None if rate is None else rate >= self.target


# --- processing time against the manual baseline ----------------------------------------------


class ProcessBaseline(BaseModel):
    """A process on the board: how to tell a run that finished its work, and how long the same
    work took by hand (the business's own measurement, configured)."""

    name: str = Field(min_length=1)
    workflow_type: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_]*$")
    # A keyword search attribute and the values that mean "done" (e.g. OrderStatus Completed);
    # none: every run whose workflow completed.
    status_attribute: str | None = Field(None, pattern=r"^[A-Za-z][A-Za-z0-9_]*$")
    done: list[str] = Field(default_factory=list)
    manual_p50_hours: float = Field(gt=0)
    manual_p95_hours: float = Field(gt=0)

    @model_validator(mode="after")
    def _done_needs_an_attribute(self) -> ProcessBaseline:
        if bool(self.done) != bool(self.status_attribute):
            raise ValueError("status_attribute and done go together")
        for value in self.done:
            if "'" in value:
                raise ValueError(f"done value {value!r} may not contain a quote")
        return self

    def done_query(self, start: datetime, end: datetime) -> str:
        query = f"WorkflowType = '{self.workflow_type}' AND ExecutionStatus = 'Completed'"
        if self.status_attribute:
            query += f" AND {self.status_attribute} IN {one_of(self.done)}"
        return f"{query} AND {_closed_between(start, end)}"


class ProcessTime(BaseModel):
    name: str
    workflow_type: str
    count: int  # runs that finished in the window
    sampled: int  # the newest of them the percentiles are over
    p50_seconds: float | None
    p95_seconds: float | None
    manual_p50_seconds: float
    manual_p95_seconds: float
    goal: float = IMPROVEMENT_GOAL

    @computed_field  # type: ignore[prop-decorator]
    @property
    def change_p50(self) -> float | None:
        """−0.6: 60 % faster than by hand."""
        if self.p50_seconds is None:
            return None
        return self.p50_seconds / self.manual_p50_seconds - 1

    @computed_field  # type: ignore[prop-decorator]
    @property
    def change_p95(self) -> float | None:
        if self.p95_seconds is None:
            return None
        return self.p95_seconds / self.manual_p95_seconds - 1

    @computed_field  # type: ignore[prop-decorator]
    @property
    def meets_goal(self) -> bool | None:
        change = self.change_p50
        return None if change is None else change <= -self.goal


def process_time(
    process: ProcessBaseline, count: int, durations: Sequence[float], goal: float
) -> ProcessTime:
    return ProcessTime(
        name=process.name,
        workflow_type=process.workflow_type,
        count=count,
        sampled=len(durations),
        p50_seconds=percentile(durations, 50),
        p95_seconds=percentile(durations, 95),
        manual_p50_seconds=process.manual_p50_hours * 3600,
        manual_p95_seconds=process.manual_p95_hours * 3600,
        goal=goal,
    )


# --- throughput and task queues ---------------------------------------------------------------


class Throughput(BaseModel):
    label: str
    hours: float
    started: int
    completed: int

    @computed_field  # type: ignore[prop-decorator]
    @property
    def completed_per_hour(self) -> float:
        return self.completed / self.hours


class QueueKind(StrEnum):
    WORKFLOW = "workflow"
    ACTIVITY = "activity"


class QueueLoad(BaseModel):
    task_queue: str
    kind: QueueKind
    backlog: int  # tasks waiting for a worker (approximate, as the server counts)
    oldest_seconds: float  # how long the oldest of them has waited
    pollers: int  # workers polling it now

    @computed_field  # type: ignore[prop-decorator]
    @property
    def unserved(self) -> bool:
        """Work waits and nobody polls: the worker is down."""
        return self.backlog > 0 and self.pollers == 0


# --- alerts that fire now ---------------------------------------------------------------------

# The alerts the board shows: fired and not resolved (a pending one has paged nobody yet).
SHOWN_ALERT_STATUSES = (AlertStatus.FIRING, AlertStatus.ACKNOWLEDGED, AlertStatus.SILENCED)


class FiringAlert(BaseModel):
    workflow_id: str
    rule: str
    severity: str
    status: str
    since: datetime | None = None
    subject: str = ""
    summary: str = ""
    level: int = 0
    acknowledged_by: str | None = None


# --- the board --------------------------------------------------------------------------------


class BoardConfig(BaseModel):
    target: float = Field(SUCCESS_TARGET, gt=0, le=1)
    goal: float = Field(IMPROVEMENT_GOAL, gt=0, lt=1)
    refresh_seconds: int = Field(30, ge=5, le=3600)
    # Percentiles are over at most this many of the newest finished runs per process.
    sample: int = Field(2000, ge=10, le=100_000)
    task_queues: list[str] = Field(default_factory=list)
    processes: list[ProcessBaseline] = Field(default_factory=list)
    # At most this many firing alerts are shown (and asked for their summary).
    alerts_shown: int = Field(20, ge=1, le=200)


class Board(BaseModel):
    as_of: datetime
    refresh_seconds: int = 30
    target: float = SUCCESS_TARGET
    success: list[SuccessFigure] = Field(default_factory=list)
    processes: list[ProcessTime] = Field(default_factory=list)
    throughput: list[Throughput] = Field(default_factory=list)
    queues: list[QueueLoad] = Field(default_factory=list)
    alerts: list[FiringAlert] = Field(default_factory=list)
    alerts_total: int = 0
    # What could not be read this time, one line each; the rest of the board still shows.
    notes: list[str] = Field(default_factory=list)


WINDOWS: tuple[tuple[str, timedelta], ...] = (
    ("last hour", timedelta(hours=1)),
    ("last 24 hours", timedelta(hours=24)),
)
