"""The Alert process's contract: what the watchdog, the gateway's Alertmanager receiver, the CLI,
the inbox and the report agree on. Pure names and models (no Temporal import).

One Alert workflow per firing condition: its id is the condition's fingerprint (rule + subject),
so evaluating the same condition twice never makes two alerts. The workflow owns the hysteresis
(fire after `for_` of continuous firing, resolve after `clear_after` of continuous clear), the
escalation over the route's levels until acknowledged, the repeats and the audit (its history and
the `state` query's timeline).
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel, Field

from domain.visibility import Kind, SearchAttribute

WORKFLOW_NAME = "Alert"
# Detection and repair have their own queue and worker: they work while the business one is down.
TASK_QUEUE = "continuum-ops"


def fingerprint(rule: str, subject: str) -> str:
    """Stable, id-safe fingerprint of a condition: the rule and what it is about."""
    digest = hashlib.sha256(f"{rule}\x00{subject}".encode()).hexdigest()[:16]
    return f"{rule}-{digest}"


def workflow_id(fp: str) -> str:
    return f"alert-{fp}"


class Message:
    """Names of the Alert workflow's signal, updates and query."""

    OBSERVE = "observe"  # signal Observation: the condition is (still) firing, or clear
    ACKNOWLEDGE = "acknowledge"  # update Acknowledgement → AlertState
    SILENCE = "silence"  # update Silence → AlertState
    STATE = "state"  # query → AlertState


class Severity(StrEnum):
    CRITICAL = "critical"
    WARNING = "warning"
    INFO = "info"


class AlertStatus(StrEnum):
    """Also the ProcessStatus search attribute of an Alert workflow."""

    PENDING = "Pending"  # firing observed, not yet for `for_`
    FIRING = "Firing"  # notified, escalating until acknowledged
    ACKNOWLEDGED = "Acknowledged"  # someone acts: no more escalation (repeats go on to the acker)
    SILENCED = "Silenced"  # no notifications until `silenced_until`
    RESOLVED = "Resolved"  # clear for `clear_after` after firing: everyone notified was told
    DISMISSED = "Dismissed"  # cleared before it ever fired: nobody was paged

    @property
    def is_open(self) -> bool:
        return self not in (AlertStatus.RESOLVED, AlertStatus.DISMISSED)


# The status goes to the generic ProcessStatus (domain.visibility), with StateSince.
ALERT_SEVERITY = SearchAttribute("AlertSeverity", Kind.KEYWORD)
ALERT_RULE = SearchAttribute("AlertRule", Kind.KEYWORD)
SEARCH_ATTRIBUTES = [ALERT_SEVERITY, ALERT_RULE]


class ReceiverKind(StrEnum):
    EMAIL = "email"  # target: an address; SMTP settings from the environment
    APPRISE = "apprise"  # target: an apprise URL (Slack, Teams, ...), secret parts from the env
    WEBHOOK = "webhook"  # target: a URL; HMAC-signed, Idempotency-Key, Alertmanager-style body
    LOG = "log"  # target: a file path; what `make run` uses when nothing is configured


class Receiver(BaseModel):
    name: str
    kind: ReceiverKind
    target: str


class Level(BaseModel):
    """Who is notified at a level, and how long after the alert fired (level 1: at once)."""

    after: timedelta = timedelta(0)
    receivers: list[Receiver]
    # People who may acknowledge at this level (names from the approvals directory).
    people: list[str] = Field(default_factory=list)


class Route(BaseModel):
    levels: list[Level] = Field(min_length=1)
    # Until acknowledged, everyone notified so far is reminded at this interval.
    repeat_every: timedelta = timedelta(hours=1)


class AlertInput(BaseModel):
    """What the raiser (watchdog or the Alertmanager receiver) starts an alert with."""

    fingerprint: str
    rule: str
    severity: Severity
    subject: str  # e.g. "order-O-17", "task-queue continuum-orders"
    summary: str
    runbook: str  # the incident-console query (and the repair to plan) for this rule
    route: Route
    for_: timedelta = timedelta(0)
    clear_after: timedelta = timedelta(minutes=5)
    # Who may acknowledge or silence (the operations role's members); empty: anyone listed.
    responders: list[str] = Field(default_factory=list)
    source: str = "watchdog"  # or "alertmanager"
    # Set only by the workflow itself when it continues as new (a long-firing alert's history
    # grows with every observation): the state it carries over. Raisers leave it None.
    resume: AlertState | None = None
    # Likewise: the last business event's sequence (workflows/events.py), numbered on.
    events_sequence: int = Field(0, ge=0)


class Observation(BaseModel):
    firing: bool
    at: datetime
    detail: str = ""  # what the evaluator saw (e.g. "attempt 7, last failure: ERP 503")


class Acknowledgement(BaseModel):
    by: str
    comment: str = ""


class Silence(BaseModel):
    by: str
    duration: timedelta
    reason: str


class TimelineEntry(BaseModel):
    at: datetime
    # observed-firing, fired, notified, delivery-failed, escalated, repeated, acknowledged,
    # silenced, silence-ended, observed-clear, resolved, dismissed
    event: str
    level: int | None = None
    receiver: str | None = None
    by: str | None = None
    detail: str = ""


class AlertState(BaseModel):
    input: AlertInput
    status: AlertStatus
    first_observed: datetime
    fired_at: datetime | None = None
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    silenced_until: datetime | None = None
    resolved_at: datetime | None = None
    level: int = 0  # the highest level notified so far (1-based; 0: none)
    last_detail: str = ""
    timeline: list[TimelineEntry] = Field(default_factory=list)
    # The workflow's own bookkeeping (hysteresis, who to tell on resolve, repeats), kept here so
    # that it survives continue-as-new.
    firing_since: datetime | None = None  # firing observed without a clear since then
    clear_since: datetime | None = None  # clear observed without a firing since then
    notified: list[str] = Field(default_factory=list)  # receiver names told so far, in order
    repeated_at: datetime | None = None  # the last repeat (at first: when it fired)
    repeats: int = 0


# AlertInput.resume names AlertState, defined after it.
AlertInput.model_rebuild()
