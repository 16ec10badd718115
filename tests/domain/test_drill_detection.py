"""The drill's judgement of detection: each stop paged by its rule, nothing paged without one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from domain.drill import Invariant, detection_invariants
from domain.drill_detection import FiredAlert, Stop, StopKind, judge

T0 = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
GRACE = timedelta(seconds=30)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def stop(
    kind: StopKind, rule: str, began: float, recovered: float, subject: str | None = None
) -> Stop:
    return Stop(
        kind=kind,
        label=kind.value,
        expected_rule=rule,
        subject=subject,
        began=at(began),
        recovered=at(recovered),
    )


def alert(
    rule: str, fired: float, resolved: float | None, subject: str = "s", n: int = 0
) -> FiredAlert:
    return FiredAlert(
        alert_id=f"alert-{rule}-{n}",
        rule=rule,
        subject=subject,
        fired_at=at(fired),
        resolved_at=None if resolved is None else at(resolved),
    )


STOPS = [
    stop(StopKind.WORKER_DOWN, "backlog", 100, 110),
    stop(StopKind.ERP_DOWN, "retrying", 200, 212),
    stop(StopKind.UNDELIVERED, "late", 300, 311, subject="O-9"),
]


def test_each_stop_paged_and_resolved_nothing_else_passes() -> None:
    alerts = [
        alert("backlog", 106, 118),
        alert("late", 108, 120, subject="order-O-1", n=1),  # the worker down stalls deliveries too
        alert("retrying", 208, 220),
        alert("late", 309, 316, subject="order-O-9", n=2),
    ]
    report = judge(at(0), at(90), STOPS, alerts, GRACE)
    assert [s.seconds_to_detect for s in report.stops] == [6.0, 8.0, 9.0]
    assert [s.seconds_to_resolve for s in report.stops] == [8.0, 8.0, 5.0]
    assert report.stops[0].also == ["late on order-O-1 at 09:01:48"]
    assert report.false_alerts == [] and report.missed == [] and report.unresolved == []
    assert all(r.held for r in detection_invariants(report))


def test_a_miss_an_unresolved_alert_and_a_false_alert_are_each_named() -> None:
    alerts = [
        alert("backlog", 40, 50),  # in the quiet stretch: false
        alert("backlog", 106, None, n=1),  # never resolved
        alert("late", 309, 316, subject="order-O-8", n=2),  # another order: not the held one
        alert("retrying", 260, 270, n=3),  # past the ERP stop's grace: false
    ]
    report = judge(at(0), at(90), STOPS, alerts, GRACE)
    assert report.missed == [
        "erp_down: no retrying alert within 0:15:00",
        "undelivered: no late alert within 0:15:00",
    ]
    assert report.unresolved == ["worker_down: backlog did not resolve after the recovery"]
    assert report.false_alerts == ["backlog on s at 09:00:40", "retrying on s at 09:04:20"]
    held = {r.invariant: r.held for r in detection_invariants(report)}
    assert held == {Invariant.DETECTED: False, Invariant.NO_FALSE_ALERT: False}


def test_an_alert_later_than_fifteen_minutes_is_a_miss() -> None:
    late = judge(at(0), at(90), STOPS[:1], [alert("backlog", 100 + 901, 1010)], GRACE)
    assert not late.stops[0].detected and late.missed
