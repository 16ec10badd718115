"""An alert's business events (source `/continuum/alerts`, subject = the condition's fingerprint):
fired, escalated, acknowledged, resolved. Rule, severity, what it is about (a business key such as
`order-O-17`), levels and receivers' names; who acknowledged is an employee's login. Never a
receiver's address, nor the evaluator's detail (an error text may quote a customer's data).

An alert that resolved and fires again later is a new Alert workflow under the same id (its
fingerprint's): its events are numbered per chain of runs (see `process_id`), so that two
occurrences never share an event id or a publisher. A reopened occurrence continued as new
stays in its chain and numbers on."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from domain.alerts.contract import AlertState, Receiver

SOURCE = "/continuum/alerts"
FIRED = "alert.fired.v1"
ESCALATED = "alert.escalated.v1"
ACKNOWLEDGED = "alert.acknowledged.v1"
RESOLVED = "alert.resolved.v1"


def process_id(workflow_id: str, first_run_id: str) -> str:
    """The events' process: the workflow id and its chain's first run (kept across
    continue-as-new and reset, checked on the dev server 1.32), since an alert that fires again
    after it ended reuses the id."""
    return f"{workflow_id}-{first_run_id}"


class AlertFired(BaseModel):
    fingerprint: str
    rule: str
    severity: str  # critical | warning | info
    about: str  # the condition's subject, e.g. "order-O-17"
    summary: str
    raised_by: str  # watchdog | alertmanager
    first_observed: datetime
    fired_at: datetime


class AlertEscalated(BaseModel):
    fingerprint: str
    rule: str
    level: int  # 2, 3...: the level now paged
    receivers: list[str]  # their names in the route, not their addresses


class AlertAcknowledged(BaseModel):
    fingerprint: str
    rule: str
    acknowledged_by: str
    level: int  # the highest level paged when acknowledged


class AlertResolved(BaseModel):
    fingerprint: str
    rule: str
    severity: str
    about: str
    fired_at: datetime | None
    resolved_at: datetime
    acknowledged_by: str | None
    level: int  # the highest level paged


def fired(state: AlertState) -> AlertFired:
    source = state.input
    assert state.fired_at is not None
    return AlertFired(
        fingerprint=source.fingerprint,
        rule=source.rule,
        severity=source.severity.value,
        about=source.subject,
        summary=source.summary,
        raised_by=source.source,
        first_observed=state.first_observed,
        fired_at=state.fired_at,
    )


def escalated(state: AlertState, level: int, receivers: list[Receiver]) -> AlertEscalated:
    return AlertEscalated(
        fingerprint=state.input.fingerprint,
        rule=state.input.rule,
        level=level,
        receivers=[r.name for r in receivers],
    )


def acknowledged(state: AlertState) -> AlertAcknowledged:
    assert state.acknowledged_by is not None
    return AlertAcknowledged(
        fingerprint=state.input.fingerprint,
        rule=state.input.rule,
        acknowledged_by=state.acknowledged_by,
        level=state.level,
    )


def resolved(state: AlertState) -> AlertResolved:
    source = state.input
    assert state.resolved_at is not None
    return AlertResolved(
        fingerprint=source.fingerprint,
        rule=source.rule,
        severity=source.severity.value,
        about=source.subject,
        fired_at=state.fired_at,
        resolved_at=state.resolved_at,
        acknowledged_by=state.acknowledged_by,
        level=state.level,
    )


TYPES: dict[str, type[BaseModel]] = {
    FIRED: AlertFired,
    ESCALATED: AlertEscalated,
    ACKNOWLEDGED: AlertAcknowledged,
    RESOLVED: AlertResolved,
}
