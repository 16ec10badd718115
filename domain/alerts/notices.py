"""What an Alert tells one receiver, and how it reads: the text of an e-mail or chat message and
the Alertmanager-compatible body of a webhook. Pure (no I/O): the workflow builds the notice, the
delivery activity only sends it.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel

from domain.alerts.contract import AlertInput, Receiver, Severity

# The delivery activity's name: in every Alert history, never to change.
DELIVER_ALERT = "deliver_alert"


class NoticeKind(StrEnum):
    FIRING = "firing"  # level 1, when the alert fires
    ESCALATION = "escalation"  # level 2, 3, ... nobody acknowledged in time
    REPEAT = "repeat"  # still open: a reminder at the route's interval
    RESOLVED = "resolved"  # the condition cleared: to everyone notified


class AlertNotice(BaseModel):
    kind: NoticeKind
    alert_id: str  # the workflow id, what `continuum alerts ack` takes
    fingerprint: str
    rule: str
    severity: Severity
    subject: str
    summary: str
    detail: str
    runbook: str
    source: str
    level: int
    fired_at: datetime
    resolved_at: datetime | None = None
    acknowledged_by: str | None = None
    receiver: Receiver
    # Stable for this alert occurrence, event and receiver: a retried or replayed delivery
    # carries the same key, so a receiver that keeps keys drops the copy.
    idempotency_key: str


class DeliveryReceipt(BaseModel):
    """What the channel answered (kept in the alert's timeline: the audit)."""

    receiver: str
    answer: str


def idempotency_key(alert_id: str, fired_at: datetime, event: str, receiver: str) -> str:
    """From business keys only: the alert, its occurrence (when it fired), the event (e.g.
    `escalation-2`, `repeat-3`) and the receiver. Never random: a retry must reuse it."""
    occurrence = f"{alert_id}|{fired_at.isoformat()}|{event}|{receiver}"
    return f"{alert_id}:{event}:{hashlib.sha256(occurrence.encode()).hexdigest()[:16]}"


def notice(
    alert_id: str,
    source: AlertInput,
    kind: NoticeKind,
    *,
    event: str,
    level: int,
    receiver: Receiver,
    fired_at: datetime,
    detail: str,
    resolved_at: datetime | None = None,
    acknowledged_by: str | None = None,
) -> AlertNotice:
    return AlertNotice(
        kind=kind,
        alert_id=alert_id,
        fingerprint=source.fingerprint,
        rule=source.rule,
        severity=source.severity,
        subject=source.subject,
        summary=source.summary,
        detail=detail,
        runbook=source.runbook,
        source=source.source,
        level=level,
        fired_at=fired_at,
        resolved_at=resolved_at,
        acknowledged_by=acknowledged_by,
        receiver=receiver,
        idempotency_key=idempotency_key(alert_id, fired_at, event, receiver.name),
    )


def title(n: AlertNotice) -> str:
    if n.kind is NoticeKind.RESOLVED:
        return f"[RESOLVED] {n.summary}"
    tag = n.severity.value.upper()
    if n.kind is NoticeKind.ESCALATION:
        return f"[{tag}] level {n.level}: {n.summary}"
    if n.kind is NoticeKind.REPEAT:
        return f"[{tag}] still open: {n.summary}"
    return f"[{tag}] {n.summary}"


def body(n: AlertNotice) -> str:
    """Plain text: what happened, to what, since when, what to look at, how to take it."""
    lines = [
        n.summary,
        "",
        f"subject:  {n.subject}",
        f"rule:     {n.rule} (severity {n.severity.value}, raised by {n.source})",
        f"fired:    {n.fired_at.isoformat()}",
    ]
    if n.resolved_at is not None:
        lines.append(f"resolved: {n.resolved_at.isoformat()}")
    if n.acknowledged_by:
        lines.append(f"acknowledged by {n.acknowledged_by}")
    if n.detail:
        lines.append(f"detail:   {n.detail}")
    if n.runbook:
        lines.append(f"runbook:  {n.runbook}")
    lines.append(f"alert:    {n.alert_id}")
    if n.kind is not NoticeKind.RESOLVED:
        lines.append(f"take it:  continuum alerts ack {n.alert_id} --by <your name>")
    return "\n".join(lines)


_NO_END = "0001-01-01T00:00:00Z"  # how Alertmanager writes "no end yet"


def alertmanager_payload(n: AlertNotice) -> dict[str, Any]:
    """The body of Alertmanager's webhook (version 4), so anything that takes Alertmanager's
    webhooks takes ours; the `continuum` member says which event this is (ignored by others)."""
    status = "resolved" if n.kind is NoticeKind.RESOLVED else "firing"
    labels = {
        "alertname": n.rule,
        "severity": n.severity.value,
        "subject": n.subject,
        "source": n.source,
    }
    annotations = {"summary": n.summary, "description": n.detail, "runbook": n.runbook}
    return {
        "version": "4",
        "groupKey": f'{{}}:{{alertname="{n.rule}", subject="{n.subject}"}}',
        "truncatedAlerts": 0,
        "status": status,
        "receiver": n.receiver.name,
        "groupLabels": {"alertname": n.rule},
        "commonLabels": labels,
        "commonAnnotations": annotations,
        "externalURL": "",
        "alerts": [
            {
                "status": status,
                "labels": labels,
                "annotations": annotations,
                "startsAt": n.fired_at.isoformat(),
                "endsAt": n.resolved_at.isoformat() if n.resolved_at else _NO_END,
                "generatorURL": "",
                "fingerprint": n.fingerprint,
            }
        ],
        "continuum": {
            "alert_id": n.alert_id,
            "event": n.kind.value,
            "level": n.level,
            "acknowledged_by": n.acknowledged_by,
            "idempotency_key": n.idempotency_key,
        },
    }
