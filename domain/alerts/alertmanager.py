"""Alertmanager's webhook as the gateway's receiver reads it, and the Alert each alert raises.

Alertmanager (deploy/alertmanager/alertmanager.yml) posts its webhook format, version 4, for
firing and for resolved alerts. Each alert is one observation of the Alert workflow whose
fingerprint is the alert's rule (its `alertname`) and subject (its other labels but `severity`):
the same for every resend, so a repeat is one more observation of the same alert, never a
second alert. Prometheus's `for` and Alertmanager's resolve already judged the condition, so
these alerts fire on the first firing observation and resolve on the first clear one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from domain.alerts.contract import AlertInput, Observation, Route, Severity, fingerprint

SOURCE = "alertmanager"
# One webhook carries one group; with `group_by: ["..."]` that is one alert. A cap all the same.
MAX_ALERTS = 500
MAX_LABELS = 50
MAX_TEXT = 2000
# A rule name becomes part of a workflow id: letters, digits and a few separators only.
_RULE = re.compile(r"^[A-Za-z_:][A-Za-z0-9_:.-]{0,99}$")
# Prometheus's severities as the Alert contract names them (and the older page/ticket words).
SEVERITIES: Mapping[str, Severity] = {
    "critical": Severity.CRITICAL,
    "page": Severity.CRITICAL,
    "warning": Severity.WARNING,
    "ticket": Severity.WARNING,
    "info": Severity.INFO,
}
DEFAULT_SEVERITY = Severity.WARNING
_SUBJECT_OMITS = ("alertname", "severity")


class AlertmanagerError(ValueError):
    """A webhook the receiver refuses; the message is one line naming what is wrong."""


class PrometheusAlert(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    status: Literal["firing", "resolved"]
    labels: dict[str, str] = Field(max_length=MAX_LABELS)
    annotations: dict[str, str] = Field(default_factory=dict, max_length=MAX_LABELS)
    starts_at: datetime = Field(alias="startsAt")
    # Alertmanager sends 0001-01-01T00:00:00Z while an alert fires.
    ends_at: datetime | None = Field(None, alias="endsAt")
    generator_url: str = Field("", alias="generatorURL", max_length=MAX_TEXT)


class AlertmanagerWebhook(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    version: Literal["4"]
    status: Literal["firing", "resolved"]
    receiver: str = ""
    group_key: str = Field("", alias="groupKey")
    alerts: list[PrometheusAlert] = Field(min_length=1, max_length=MAX_ALERTS)


class Raising(BaseModel):
    """What the receiver sends for one Prometheus alert: the Alert to start if none is open,
    and the observation to signal to it."""

    input: AlertInput
    observation: Observation

    @property
    def firing(self) -> bool:
        return self.observation.firing


def parse(body: bytes) -> AlertmanagerWebhook:
    """The webhook, or AlertmanagerError naming the first problem (field path included)."""
    try:
        return AlertmanagerWebhook.model_validate_json(body)
    except ValidationError as err:
        first = err.errors()[0]
        if first["type"] == "json_invalid":
            raise AlertmanagerError("body: not valid JSON") from None
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise AlertmanagerError(f"{where}: {first['msg']}") from None


def rule_of(alert: PrometheusAlert, index: int) -> str:
    name = alert.labels.get("alertname", "")
    if not _RULE.match(name):
        shown = repr(name) if name else "missing"
        raise AlertmanagerError(
            f"alerts.{index}.labels.alertname: {shown} is not a rule name "
            "(a letter, then letters, digits, '_', ':', '.', '-'; 100 at most)"
        )
    return name


def subject_of(alert: PrometheusAlert) -> str:
    """What the alert is about, stable across resends: its labels but the rule and severity."""
    pairs = [f"{k}={v}" for k, v in sorted(alert.labels.items()) if k not in _SUBJECT_OMITS]
    return ", ".join(pairs) or "all"


def severity_of(alert: PrometheusAlert) -> tuple[Severity, str]:
    """The contract's severity, and a note when the label had to be read as the default."""
    given = alert.labels.get("severity", "").strip().lower()
    if given in SEVERITIES:
        return SEVERITIES[given], ""
    # Refusing it would drop a page on the floor: page at the default, and say so.
    what = f"severity {given!r} is unknown" if given else "no severity label"
    return DEFAULT_SEVERITY, f"{what}; taken as {DEFAULT_SEVERITY.value}"


def _clip(text: str) -> str:
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…"


def _when(moment: datetime | None, received_at: datetime) -> datetime:
    """The alert's own time, never later than its arrival (and never Alertmanager's year 1)."""
    if moment is None or moment.year < 2000 or moment.tzinfo is None:
        return received_at
    return min(moment, received_at)


def raising(
    alert: PrometheusAlert,
    index: int,
    routes: Mapping[Severity, Route],
    responders: Sequence[str],
    received_at: datetime,
) -> Raising:
    rule = rule_of(alert, index)
    subject = subject_of(alert)
    severity, note = severity_of(alert)
    route = routes.get(severity)
    if route is None:
        raise AlertmanagerError(f"no alert route for severity {severity.value}")
    notes = alert.annotations
    summary = notes.get("summary") or notes.get("description") or f"{rule} ({subject})"
    detail = notes.get("description") or summary
    if alert.generator_url:
        detail = f"{detail} ({alert.generator_url})"
    if note:
        detail = f"{detail}; {note}"
    firing = alert.status == "firing"
    return Raising(
        input=AlertInput(
            fingerprint=fingerprint(rule, subject),
            rule=rule,
            severity=severity,
            subject=_clip(subject),
            summary=_clip(summary),
            runbook=_clip(notes.get("runbook") or notes.get("runbook_url") or ""),
            route=route,
            for_=timedelta(0),
            clear_after=timedelta(0),
            responders=list(responders),
            source=SOURCE,
        ),
        observation=Observation(
            firing=firing,
            at=_when(alert.starts_at if firing else alert.ends_at, received_at),
            detail=_clip(detail if firing else "resolved in Alertmanager"),
        ),
    )


def raisings(
    webhook: AlertmanagerWebhook,
    routes: Mapping[Severity, Route],
    responders: Sequence[str],
    received_at: datetime,
) -> list[Raising]:
    """Every alert of the webhook, all checked before any is sent: a bad one refuses them all."""
    return [
        raising(alert, i, routes, responders, received_at) for i, alert in enumerate(webhook.alerts)
    ]
