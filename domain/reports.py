"""The daily report: which day, the figures gathered for it, and the KPIs computed from them.

A report day is a calendar day in the configured time zone, i.e. the UTC window
[local midnight, next local midnight). Every figure that cannot be had (a backend without the
read, a store that does not exist yet) is carried as unavailable with a note, never as zero.

What counts as a successful order (the 98 % target): an order that the process brought to a
clean end. Completed orders, and orders stopped by a business decision (declined card,
rejection, blocked customer, cancellation) whose steps were all undone, are successes: the
process did what it should. Failures are orders left NeedsAttention (an undo failed) and
workflows that failed, were terminated or timed out (invalid input fails the workflow, so it
counts here too). The rate is over the orders that closed in the window.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, Field

from domain.alerts.figures import AlertFigures
from domain.orders.models import OrderStatus
from domain.percentiles import percentile as percentile  # where the report's users find it
from domain.purchasing.figures import PurchaseFigures

WORKFLOW_NAME = "DailyReport"
# The workflow id of the daily schedule's runs; an on-demand run's is `report_id(day)`.
SCHEDULED_WORKFLOW_ID = "daily-report"
SUCCESS_TARGET = 0.98


class ReportError(ValueError):
    """A report asked for something that cannot be: a bad date or an unknown time zone."""


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ReportError(
            f"unknown time zone {name!r} (an IANA name, e.g. Europe/Berlin)"
        ) from None


def parse_day(text: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise ReportError(f"not a date: {text!r} (expected YYYY-MM-DD)") from None


def day_window(day: date, timezone: str) -> tuple[datetime, datetime]:
    """The UTC instants where `day` starts and ends in `timezone` (23 or 25 hours at DST)."""
    tz = zone(timezone)
    start = datetime.combine(day, time(0), tz).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time(0), tz).astimezone(UTC)
    return start, end


def previous_day(now: datetime, timezone: str) -> date:
    """The day a scheduled run reports on: the one before `now`, in `timezone`."""
    return now.astimezone(zone(timezone)).date() - timedelta(days=1)


# --- what starts a report, and the day it covers ----------------------------------------------


class ReportRequest(BaseModel):
    # None: the day before the run (what the daily schedule asks for).
    day: date | None = None
    timezone: str = "Europe/Berlin"


class ReportWindow(BaseModel):
    day: date
    timezone: str
    start: datetime  # UTC, inclusive
    end: datetime  # UTC, exclusive
    # When the figures were taken: overdue approvals and sync lag are "as of" this moment.
    as_of: datetime


# --- figures from the systems -----------------------------------------------------------------


class SkuSales(BaseModel):
    sku: str
    units: int
    revenue: Decimal


class StockItem(BaseModel):
    sku: str
    name: str
    on_hand: int
    reserved: int

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved


class ErpDayFigures(BaseModel):
    """What the ERP knows about one window: its sales, its stock now, its customers now."""

    orders: int  # sales orders created in the window
    orders_by_status: dict[str, int] = Field(default_factory=dict)
    # Per currency, over orders not cancelled.
    revenue: dict[str, Decimal] = Field(default_factory=dict)
    by_sku: list[SkuSales] = Field(default_factory=list)
    inventory: list[StockItem] = Field(default_factory=list)
    customers: int = 0
    blocked_customers: int = 0
    # The newest updated_at per change feed ("orders", "customers"): the sync lag's reference.
    newest_change: dict[str, datetime | None] = Field(default_factory=dict)


class ErpFigures(BaseModel):
    figures: ErpDayFigures | None = None  # None: this ERP cannot say; `note` says why
    note: str = ""


class CrmFigures(BaseModel):
    available: bool = True
    note: str = ""
    contacts: int = 0
    deals: int = 0
    deals_created: int = 0  # in the window
    deals_by_stage: dict[str, int] = Field(default_factory=dict)


class FeedLag(BaseModel):
    feed: str
    newest_change: datetime | None
    synced_through: datetime | None
    # None: the feed was never synced, or the ERP cannot say.
    lag_seconds: float | None


class SyncFigures(BaseModel):
    available: bool = True
    note: str = ""
    feeds: list[FeedLag] = Field(default_factory=list)
    quarantine: int | None = None


def feed_lag(feed: str, newest: datetime | None, synced: datetime | None) -> FeedLag:
    """How far the CRM trails the ERP on one feed; 0 once it has everything."""
    if newest is None:
        lag: float | None = 0.0  # an empty feed has nothing to trail
    elif synced is None:
        lag = None
    else:
        lag = max(0.0, (newest - synced).total_seconds())
    return FeedLag(feed=feed, newest_change=newest, synced_through=synced, lag_seconds=lag)


# --- orders from Temporal's visibility --------------------------------------------------------


class Outcome(StrEnum):
    COMPLETED = "completed"
    COMPENSATED = "compensated"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    FAILED = "failed"


class OrderRun(BaseModel):
    """One OrderToCash execution that closed in the window."""

    order_id: str
    order_status: str | None  # the OrderStatus search attribute
    execution_status: str  # Temporal's: COMPLETED, FAILED, TERMINATED, TIMED_OUT, ...
    started_at: datetime
    closed_at: datetime

    @property
    def duration_seconds(self) -> float:
        return (self.closed_at - self.started_at).total_seconds()


class OrderRuns(BaseModel):
    started: int  # executions started in the window
    closed: list[OrderRun] = Field(default_factory=list)
    awaiting_approval: int = 0  # now
    approvals_overdue: int = 0  # now: waiting past their deadline
    note: str = ""  # what could not be determined


_BY_STATUS = {
    OrderStatus.COMPLETED.value: Outcome.COMPLETED,
    OrderStatus.COMPENSATED.value: Outcome.COMPENSATED,
    OrderStatus.REJECTED.value: Outcome.REJECTED,
    OrderStatus.CANCELLED.value: Outcome.CANCELLED,
}


# The order statuses that count as a success when the workflow completed: the same definition
# read as a visibility filter by the live board and the watchdog (domain.figures).
SUCCESSFUL_ORDER_STATUSES: tuple[str, ...] = tuple(_BY_STATUS)


def outcome(run: OrderRun) -> Outcome:
    if run.execution_status != "COMPLETED":
        return Outcome.FAILED
    return _BY_STATUS.get(run.order_status or "", Outcome.FAILED)


class OrderKpis(BaseModel):
    started: int
    closed: int
    completed: int
    compensated: int
    rejected: int
    cancelled: int
    failed: int
    success_rate: float | None  # None when no order closed
    target: float = SUCCESS_TARGET
    # Over completed orders: order-to-cash lead time, start to close.
    p50_seconds: float | None
    p95_seconds: float | None
    awaiting_approval: int
    approvals_overdue: int
    note: str = ""

    @property
    def meets_target(self) -> bool | None:
        return None if self.success_rate is None else self.success_rate >= self.target


def order_kpis(runs: OrderRuns, target: float = SUCCESS_TARGET) -> OrderKpis:
    counts = dict.fromkeys(Outcome, 0)
    for run in runs.closed:
        counts[outcome(run)] += 1
    closed = len(runs.closed)
    durations = [r.duration_seconds for r in runs.closed if outcome(r) is Outcome.COMPLETED]
    return OrderKpis(
        started=runs.started,
        closed=closed,
        completed=counts[Outcome.COMPLETED],
        compensated=counts[Outcome.COMPENSATED],
        rejected=counts[Outcome.REJECTED],
        cancelled=counts[Outcome.CANCELLED],
        failed=counts[Outcome.FAILED],
        success_rate=(closed - counts[Outcome.FAILED]) / closed if closed else None,
        target=target,
        p50_seconds=percentile(durations, 50),
        p95_seconds=percentile(durations, 95),
        awaiting_approval=runs.awaiting_approval,
        approvals_overdue=runs.approvals_overdue,
        note=runs.note,
    )


# --- the report -------------------------------------------------------------------------------


class DailyReport(BaseModel):
    window: ReportWindow
    kpis: OrderKpis
    orders: list[OrderRun] = Field(default_factory=list)
    erp: ErpFigures
    crm: CrmFigures
    sync: SyncFigures
    # None: a report made before the alerts section (workflow.patched "report-alerts").
    alerts: AlertFigures | None = None
    # None: a report made before the procure-to-pay section (workflow.patched "report-purchases").
    purchases: PurchaseFigures | None = None

    @property
    def empty(self) -> bool:
        """Nothing happened that day: no order started or closed, no sale, no purchase started
        or closed."""
        sales = self.erp.figures.orders if self.erp.figures else 0
        bought = self.purchases.started + self.purchases.closed if self.purchases else 0
        return self.kpis.started == 0 and self.kpis.closed == 0 and sales == 0 and bought == 0


class ReportFiles(BaseModel):
    directory: str
    files: list[str]


class PublishedReport(BaseModel):
    report: DailyReport
    files: ReportFiles


class WebhookAnswer(BaseModel):
    posted: bool


class ReportResult(BaseModel):
    day: date
    directory: str
    files: list[str]
    empty: bool
    kpis: OrderKpis
    posted: bool = False


def report_id(day: date) -> str:
    """The workflow id of an on-demand report: one per day at a time."""
    return f"report-{day.isoformat()}"
