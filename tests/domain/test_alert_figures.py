"""The report's alerts section: each alert counts in the figures whose moment falls in the day,
times to acknowledge and to resolve measured from when it fired."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from domain.alerts.figures import AlertRecord, alert_figures, occurrences, touched_query

START = datetime(2026, 12, 7, 0, 0, tzinfo=UTC)
END = START + timedelta(days=1)


def alert(
    name: str,
    fired: float | None,
    acked: float | None = None,
    resolved: float | None = None,
    severity: str = "critical",
) -> AlertRecord:
    """Moments in hours after the day's start (negative: the day before)."""

    def at(hours: float | None) -> datetime | None:
        return None if hours is None else START + timedelta(hours=hours)

    return AlertRecord(
        alert_id=f"alert-{name}",
        rule=name.split("-")[0],
        severity=severity,
        subject=name,
        source="watchdog",
        status="Resolved" if resolved is not None else "Firing",
        fired_at=at(fired),
        acknowledged_at=at(acked),
        acknowledged_by="olga" if acked is not None else None,
        resolved_at=at(resolved),
    )


def test_each_alert_counts_where_its_moments_fall() -> None:
    figures = alert_figures(
        [
            alert("stalled-a", 1, acked=1.25, resolved=2),  # all of it today
            alert("stalled-b", 3, acked=3.5),  # acknowledged, still firing
            alert("retrying-c", -2, acked=-1.5, resolved=1),  # fired yesterday, resolved today
            alert("backlog-d", 5, severity="warning"),  # fired, nobody acknowledged yet
            alert("old-e", -30, acked=-29, resolved=-28),  # all of it yesterday
            alert("pending-f", None),  # pending: never fired
        ],
        START,
        END,
    )
    assert (figures.fired, figures.acknowledged, figures.resolved) == (3, 2, 2)
    assert figures.fired_by_severity == {"critical": 2, "warning": 1}
    assert figures.fired_by_rule == {"stalled": 2, "backlog": 1}
    # To acknowledge: 15 and 30 minutes; to resolve: 1 h (a) and 3 h (c, from yesterday).
    assert figures.ack_p50_seconds == pytest.approx(22.5 * 60)
    assert figures.ack_p95_seconds == pytest.approx((15 + 0.95 * 15) * 60)
    assert figures.resolve_p50_seconds == pytest.approx(2 * 3600)
    assert figures.resolve_p95_seconds == pytest.approx((1 + 0.95 * 2) * 3600)
    assert [a.alert_id for a in figures.alerts] == [
        "alert-retrying-c",
        "alert-stalled-a",
        "alert-stalled-b",
        "alert-backlog-d",
    ]


def test_a_quiet_day_has_no_times() -> None:
    figures = alert_figures([], START, END, note="0 alerts")
    assert (figures.fired, figures.acknowledged, figures.resolved) == (0, 0, 0)
    assert figures.ack_p50_seconds is None and figures.resolve_p95_seconds is None
    assert figures.note == "0 alerts" and figures.available


def test_the_query_finds_alerts_open_at_any_moment_of_the_day() -> None:
    query = touched_query("2026-12-07T00:00:00Z", "2026-12-08T00:00:00Z")
    assert query == (
        "WorkflowType = 'Alert' AND StartTime < '2026-12-08T00:00:00Z'"
        " AND (ExecutionStatus = 'Running' OR CloseTime >= '2026-12-07T00:00:00Z')"
    )


def test_each_occurrence_counts_once_whatever_runs_it_took() -> None:
    """A run continued as new carries its occurrence on (same fired_at: the newer run's word);
    a condition back while its resolution went out is a new occurrence (a new fired_at)."""
    carried_over = alert("stalled-a", 1)  # the first run, when its history grew long
    carried_on = alert("stalled-a", 1, acked=2, resolved=3)  # the next run, same occurrence
    back_again = alert("stalled-a", 4)  # fired anew after it resolved
    found = occurrences([carried_over, carried_on, back_again])
    assert found == [carried_on, back_again]
    figures = alert_figures(found, START, END)
    assert (figures.fired, figures.acknowledged, figures.resolved) == (2, 1, 1)
