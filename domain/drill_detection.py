"""The drill's detection: every fault that stops business raises its alert, and only those do.

After the resilience part of the drill, with a light load running, the drill stops business three
ways, one at a time: the worker killed and kept down, the ERP down, an order whose delivery never
comes. Each must raise its rule's alert within DETECT_WITHIN of its start and resolve after the
recovery; before them, a quiet stretch with no fault must raise none. Pure: the drill's runner
(`starters.drill.detection`) measures, this judges.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel, Field

# The business's promise: the operations team is paged within 15 minutes of business stopping.
DETECT_WITHIN = timedelta(minutes=15)


class StopKind(StrEnum):
    WORKER_DOWN = "worker_down"  # the business worker killed and kept down
    ERP_DOWN = "erp_down"  # the ERP answers nothing
    UNDELIVERED = "undelivered"  # an order whose delivery never comes


class FiredAlert(BaseModel):
    """An alert that fired (paged), as its workflow tells."""

    alert_id: str
    rule: str
    subject: str
    fired_at: datetime
    resolved_at: datetime | None = None

    def describe(self) -> str:
        return f"{self.rule} on {self.subject} at {self.fired_at:%H:%M:%S}"


class Stop(BaseModel):
    """One injected stop and what the watchdog made of it."""

    kind: StopKind
    label: str
    expected_rule: str
    subject: str | None = None  # the alert's subject must contain this (e.g. the order's id)
    began: datetime
    recovered: datetime | None = None  # the fault lifted (the worker back, the ERP up, delivered)
    alert: FiredAlert | None = None  # the expected rule's alert
    # Other alerts that fired while this stop lasted: explained by it (a worker down also stalls
    # deliveries), listed, never counted as false.
    also: list[str] = Field(default_factory=list)

    @property
    def seconds_to_detect(self) -> float | None:
        return None if self.alert is None else (self.alert.fired_at - self.began).total_seconds()

    @property
    def seconds_to_resolve(self) -> float | None:
        """From the recovery to the alert's resolution."""
        if self.alert is None or self.alert.resolved_at is None or self.recovered is None:
            return None
        return (self.alert.resolved_at - self.recovered).total_seconds()

    @property
    def detected(self) -> bool:
        took = self.seconds_to_detect
        return took is not None and 0 <= took <= DETECT_WITHIN.total_seconds()

    @property
    def resolved(self) -> bool:
        return self.seconds_to_resolve is not None


class DetectionReport(BaseModel):
    quiet_from: datetime
    quiet_until: datetime
    stops: list[Stop]
    false_alerts: list[str] = Field(default_factory=list)

    @property
    def missed(self) -> list[str]:
        return [
            f"{s.label}: no {s.expected_rule} alert within {DETECT_WITHIN}"
            for s in self.stops
            if not s.detected
        ]

    @property
    def unresolved(self) -> list[str]:
        return [
            f"{s.label}: {s.expected_rule} did not resolve after the recovery"
            for s in self.stops
            if s.detected and not s.resolved
        ]


def matches(stop: Stop, alert: FiredAlert) -> bool:
    return alert.rule == stop.expected_rule and (
        stop.subject is None or stop.subject in alert.subject
    )


def judge(
    quiet_from: datetime,
    quiet_until: datetime,
    stops: Sequence[Stop],
    alerts: Sequence[FiredAlert],
    grace: timedelta,
) -> DetectionReport:
    """Pairs each stop with the first alert of its rule fired in its window; an alert that fired
    after `quiet_from` and is neither that nor inside a stop's window (from its start to its
    recovery plus `grace`, the time a condition takes to clear, or to the next stop's start) is
    a false alert. `stops` in the order they were made."""
    judged: list[Stop] = []
    explained: set[str] = set()
    for index, stop in enumerate(stops):
        window_end = (stop.recovered or stop.began) + grace
        if index + 1 < len(stops):
            window_end = min(window_end, stops[index + 1].began)
        mine = sorted(
            (a for a in alerts if matches(stop, a) and stop.began <= a.fired_at <= window_end),
            key=lambda a: a.fired_at,
        )
        alert = mine[0] if mine else None
        inside = [a for a in alerts if stop.began <= a.fired_at <= window_end]
        explained |= {a.alert_id + a.fired_at.isoformat() for a in inside}
        if alert is not None:
            explained.add(alert.alert_id + alert.fired_at.isoformat())
        also = [a.describe() for a in inside if a is not alert]
        judged.append(stop.model_copy(update={"alert": alert, "also": also}))
    false = [
        a.describe()
        for a in sorted(alerts, key=lambda a: a.fired_at)
        if a.fired_at >= quiet_from and a.alert_id + a.fired_at.isoformat() not in explained
    ]
    return DetectionReport(
        quiet_from=quiet_from, quiet_until=quiet_until, stops=judged, false_alerts=false
    )
