"""The daily report's alerts section: how many alerts fired, were acknowledged and resolved in
the day, and how long people took to acknowledge and the conditions took to resolve (p50/p95).

Read from the Alert workflows themselves (visibility finds the runs the day could have touched,
each run's `state` query gives its times), so the figures are the alerts' own audit. An alert
counts in each figure whose moment falls in the day: one that fired yesterday and was resolved
today counts as resolved today, its time to resolve measured from when it fired.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import datetime

from pydantic import BaseModel, Field

from domain.alerts.contract import WORKFLOW_NAME, AlertState
from domain.percentiles import percentile

# The alerts whose state the report reads for one day; past it, the section says it is partial.
MAX_ALERTS_READ = 1000


def touched_query(start_literal: str, end_literal: str) -> str:
    """Alerts that were open at some moment of [start, end): started before its end, and still
    running or closed after its start."""
    return (
        f"WorkflowType = '{WORKFLOW_NAME}' AND StartTime < '{end_literal}'"
        f" AND (ExecutionStatus = 'Running' OR CloseTime >= '{start_literal}')"
    )


class AlertRecord(BaseModel):
    """One alert as the report lists it."""

    alert_id: str
    rule: str
    severity: str
    subject: str
    source: str
    status: str
    fired_at: datetime | None = None
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    resolved_at: datetime | None = None

    @classmethod
    def of(cls, alert_id: str, state: AlertState) -> AlertRecord:
        return cls(
            alert_id=alert_id,
            rule=state.input.rule,
            severity=state.input.severity.value,
            subject=state.input.subject,
            source=state.input.source,
            status=state.status.value,
            fired_at=state.fired_at,
            acknowledged_at=state.acknowledged_at,
            acknowledged_by=state.acknowledged_by,
            resolved_at=state.resolved_at,
        )


class AlertFigures(BaseModel):
    available: bool = True
    note: str = ""  # what could not be read (an ops worker down, more alerts than read)
    fired: int = 0
    acknowledged: int = 0
    resolved: int = 0
    ack_p50_seconds: float | None = None
    ack_p95_seconds: float | None = None
    resolve_p50_seconds: float | None = None
    resolve_p95_seconds: float | None = None
    fired_by_severity: dict[str, int] = Field(default_factory=dict)
    fired_by_rule: dict[str, int] = Field(default_factory=dict)
    # Every alert with a moment in the day, oldest first.
    alerts: list[AlertRecord] = Field(default_factory=list)


def occurrences(records_oldest_run_first: Iterable[AlertRecord]) -> list[AlertRecord]:
    """One record per occurrence of an alert. An alert's workflow continues as new when its
    history grows long (the next run carries the same occurrence on) or when the condition comes
    back while its resolution goes out (a new occurrence, fired anew): the newest run's word
    counts for each (alert, fired_at)."""
    found: dict[tuple[str, datetime | None], AlertRecord] = {}
    for record in records_oldest_run_first:
        found[(record.alert_id, record.fired_at)] = record
    return list(found.values())


def _within(moment: datetime | None, start: datetime, end: datetime) -> bool:
    return moment is not None and start <= moment < end


def alert_figures(
    records: Iterable[AlertRecord], start: datetime, end: datetime, note: str = ""
) -> AlertFigures:
    fired, acked, resolved = [], [], []
    shown: list[AlertRecord] = []
    for record in records:
        moments = (record.fired_at, record.acknowledged_at, record.resolved_at)
        if not any(_within(m, start, end) for m in moments):
            continue  # pending or dismissed that day, or all of it on other days
        shown.append(record)
        if _within(record.fired_at, start, end):
            fired.append(record)
        if _within(record.acknowledged_at, start, end):
            acked.append(record)
        if _within(record.resolved_at, start, end):
            resolved.append(record)
    to_ack = [
        (r.acknowledged_at - r.fired_at).total_seconds()
        for r in acked
        if r.acknowledged_at and r.fired_at
    ]
    to_resolve = [
        (r.resolved_at - r.fired_at).total_seconds()
        for r in resolved
        if r.resolved_at and r.fired_at
    ]
    first = datetime.max.replace(tzinfo=start.tzinfo)
    return AlertFigures(
        note=note,
        fired=len(fired),
        acknowledged=len(acked),
        resolved=len(resolved),
        ack_p50_seconds=percentile(to_ack, 50),
        ack_p95_seconds=percentile(to_ack, 95),
        resolve_p50_seconds=percentile(to_resolve, 50),
        resolve_p95_seconds=percentile(to_resolve, 95),
        fired_by_severity=dict(Counter(r.severity for r in fired)),
        fired_by_rule=dict(Counter(r.rule for r in fired)),
        alerts=sorted(shown, key=lambda r: (r.fired_at or first, r.alert_id)),
    )
