"""The report's pure parts: day windows, percentiles, outcomes, success rate, sync lag."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.reports import (
    CrmFigures,
    DailyReport,
    ErpFigures,
    OrderRun,
    OrderRuns,
    Outcome,
    ReportError,
    ReportWindow,
    SyncFigures,
    day_window,
    feed_lag,
    order_kpis,
    outcome,
    parse_day,
    percentile,
    previous_day,
)

T0 = datetime(2025, 3, 3, 8, 0, tzinfo=UTC)


def run(status: str | None, seconds: float = 60, execution: str = "COMPLETED") -> OrderRun:
    return OrderRun(
        order_id=f"O-{status}-{seconds}",
        order_status=status,
        execution_status=execution,
        started_at=T0,
        closed_at=T0 + timedelta(seconds=seconds),
    )


def test_percentiles_interpolate_between_ranks() -> None:
    assert percentile([], 50) is None
    assert percentile([7.0], 95) == 7.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
    assert percentile([10.0, 1.0, 5.0], 0) == 1.0 and percentile([10.0, 1.0, 5.0], 100) == 10.0
    assert percentile([float(n) for n in range(1, 101)], 95) == pytest.approx(95.05)
    with pytest.raises(ValueError, match=r"within 0\.\.100"):
        percentile([1.0], 101)


@given(st.lists(st.floats(0, 1e6), min_size=1, max_size=50), st.floats(0, 100))
def test_a_percentile_lies_within_the_values(values: list[float], q: float) -> None:
    found = percentile(values, q)
    assert found is not None and min(values) <= found <= max(values)


def test_outcomes_follow_the_documented_definition() -> None:
    assert outcome(run("Completed")) is Outcome.COMPLETED
    assert outcome(run("Compensated")) is Outcome.COMPENSATED
    assert outcome(run("Rejected")) is Outcome.REJECTED
    assert outcome(run("Cancelled")) is Outcome.CANCELLED
    assert outcome(run("NeedsAttention")) is Outcome.FAILED
    assert outcome(run("Invalid", execution="FAILED")) is Outcome.FAILED
    assert outcome(run("Processing", execution="TERMINATED")) is Outcome.FAILED
    assert outcome(run(None)) is Outcome.FAILED


def test_kpis_of_a_mixed_day() -> None:
    closed = [run("Completed", s) for s in (10, 20, 30, 40)]
    closed += [run("Compensated"), run("Rejected"), run("NeedsAttention")]
    closed += [run("Invalid", execution="FAILED")]
    kpis = order_kpis(OrderRuns(started=9, closed=closed, awaiting_approval=2, approvals_overdue=1))
    assert (kpis.started, kpis.closed, kpis.completed, kpis.compensated) == (9, 8, 4, 1)
    assert (kpis.rejected, kpis.cancelled, kpis.failed) == (1, 0, 2)
    assert kpis.success_rate == pytest.approx(6 / 8)
    assert kpis.meets_target is False
    assert kpis.p50_seconds == 25 and kpis.p95_seconds == pytest.approx(38.5)
    assert (kpis.awaiting_approval, kpis.approvals_overdue) == (2, 1)


def test_a_clean_day_meets_the_target() -> None:
    kpis = order_kpis(OrderRuns(started=50, closed=[run("Completed")] * 49 + [run("Cancelled")]))
    assert kpis.success_rate == 1.0 and kpis.meets_target is True


def test_an_empty_day_is_an_honest_empty_report() -> None:
    kpis = order_kpis(OrderRuns(started=0))
    assert kpis.closed == 0 and kpis.success_rate is None and kpis.meets_target is None
    assert kpis.p50_seconds is None and kpis.p95_seconds is None
    start, end = day_window(date(2025, 3, 3), "UTC")
    report = DailyReport(
        window=ReportWindow(day=date(2025, 3, 3), timezone="UTC", start=start, end=end, as_of=T0),
        kpis=kpis,
        erp=ErpFigures(note="not available"),
        crm=CrmFigures(available=False),
        sync=SyncFigures(available=False),
    )
    assert report.empty


def test_a_day_is_a_local_day_in_utc() -> None:
    assert day_window(date(2025, 1, 15), "Europe/Berlin") == (
        datetime(2025, 1, 14, 23, 0, tzinfo=UTC),
        datetime(2025, 1, 15, 23, 0, tzinfo=UTC),
    )
    start, end = day_window(date(2025, 3, 30), "Europe/Berlin")  # clocks go forward
    assert end - start == timedelta(hours=23)
    start, end = day_window(date(2025, 10, 26), "Europe/Berlin")  # and back
    assert end - start == timedelta(hours=25)


def test_a_scheduled_run_reports_the_previous_local_day() -> None:
    # 23:30 UTC on the 2nd is already 00:30 on the 3rd in Berlin: the report is for the 2nd.
    assert previous_day(datetime(2025, 3, 2, 23, 30, tzinfo=UTC), "Europe/Berlin") == date(
        2025, 3, 2
    )
    assert previous_day(datetime(2025, 3, 2, 23, 30, tzinfo=UTC), "UTC") == date(2025, 3, 1)


def test_bad_input_is_named() -> None:
    with pytest.raises(ReportError, match="not a date: 'yesterday'"):
        parse_day("yesterday")
    with pytest.raises(ReportError, match="unknown time zone 'Mars/Olympus'"):
        day_window(date(2025, 1, 1), "Mars/Olympus")
    assert parse_day(" 2025-02-28 ") == date(2025, 2, 28)


def test_sync_lag() -> None:
    newest = T0 + timedelta(minutes=7)
    assert feed_lag("orders", newest, T0).lag_seconds == 420
    assert feed_lag("orders", T0, newest).lag_seconds == 0
    assert feed_lag("orders", newest, None).lag_seconds is None  # never synced
    assert feed_lag("orders", None, None).lag_seconds == 0  # nothing to sync
