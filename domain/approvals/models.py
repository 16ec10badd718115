"""An approval: who must decide what, by when, and what each person did (the audit trail).

The `Approval` workflow holds an `ApprovalState` and changes it only through the pure functions
here, so the rules (four-eyes, roles, claims, delegation) are tested without Temporal.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum

from pydantic import BaseModel, Field

from domain.business_calendar import BusinessCalendar

# The activity that tells approvers about reminders, escalations and expiries.
NOTIFY_APPROVERS = "notify_approvers"


class Verdict(StrEnum):
    APPROVED = "approved"
    REJECTED = "rejected"


class ApprovalStatus(StrEnum):
    """Where an approval stands; also the ApprovalStatus search attribute."""

    PENDING = "Pending"
    APPROVED = "Approved"
    REJECTED = "Rejected"
    # The final deadline passed and the configured outcome applied.
    EXPIRED = "Expired"
    # The subject went away (e.g. the order was cancelled) before a verdict.
    CANCELLED = "Cancelled"


class AuditAction(StrEnum):
    REQUESTED = "requested"
    CLAIMED = "claimed"
    DELEGATED = "delegated"
    REMINDED = "reminded"
    ESCALATED = "escalated"
    APPROVED = "approved"
    REJECTED = "rejected"
    EXPIRED = "expired"
    REFUSED = "refused"
    CANCELLED = "cancelled"


class Person(BaseModel):
    name: str
    roles: list[str] = Field(default_factory=list)


class ApprovalLevel(BaseModel):
    """One step of the chain, as the policy decided it."""

    role: str
    # Business time (see BusinessCalendar) from the level's start until it escalates.
    sla: timedelta
    # How long before the SLA ends the reminder goes out (business time).
    reminder_lead: timedelta = timedelta(0)
    # Who takes over when the SLA passes; None: nobody, the level waits for the final deadline.
    escalation_role: str | None = None
    reason: str = ""


class ApprovalRequest(BaseModel):
    """Everything the approval needs, fixed at start so validators replay the same way."""

    subject_id: str  # e.g. "order-O-1"; the workflow id is approval_workflow_id(subject_id)
    kind: str  # order | contract | ...
    requester: str
    amount: Decimal
    currency: str
    summary: str
    credit_risk: bool = False
    contract: bool = False
    order_id: str | None = None
    levels: list[ApprovalLevel]
    # Business time from the request until `deadline_outcome` applies.
    final_deadline: timedelta
    deadline_outcome: Verdict = Verdict.REJECTED
    # Role -> who takes over from it; used when an escalated level's SLA passes again.
    escalations: dict[str, str] = Field(default_factory=dict)
    calendar: BusinessCalendar = Field(default_factory=BusinessCalendar)
    # A snapshot of the people directory (username -> name and roles).
    people: dict[str, Person]
    # The workflow the approval decides for (its page shows that process's details), if any.
    process_id: str | None = None
    # Parts the approver may accept on their own (a purchase exception's line numbers); empty:
    # the request is decided as a whole.
    parts: list[str] = Field(default_factory=list)


class ApprovalDecision(BaseModel):
    approver: str
    verdict: Verdict
    comment: str = ""
    # The level the approver means (0-based); None: whichever level is pending.
    level: int | None = None
    # Approving only these of the request's `parts` (the rest counts as rejected); empty: all.
    parts: list[str] = Field(default_factory=list)


class ApprovalClaim(BaseModel):
    approver: str


class ApprovalDelegation(BaseModel):
    approver: str  # who hands the level on
    to: str  # who receives it
    comment: str = ""


class AuditEntry(BaseModel):
    at: datetime
    actor: str  # a username, or "system" for reminders, escalations and the deadline
    role: str = ""
    action: AuditAction
    level: int | None = None
    comment: str = ""


class LevelState(BaseModel):
    index: int
    role: str
    # Who may decide: the level's role, plus the escalation roles it was handed to.
    roles: list[str]
    started_at: datetime | None = None
    sla_deadline: datetime | None = None
    reminder_at: datetime | None = None
    reminded: bool = False
    escalations: int = 0
    claimed_by: str | None = None
    delegated_to: str | None = None
    verdict: Verdict | None = None
    decided_by: str | None = None
    decided_at: datetime | None = None
    comment: str = ""

    @property
    def assignee(self) -> str | None:
        return self.delegated_to or self.claimed_by

    @property
    def pending_role(self) -> str:
        return self.roles[-1]


class ApprovalState(BaseModel):
    subject_id: str
    kind: str
    requester: str
    summary: str
    amount: Decimal
    currency: str
    status: ApprovalStatus = ApprovalStatus.PENDING
    current_level: int | None = None
    pending_role: str | None = None
    assignee: str | None = None
    sla_deadline: datetime | None = None
    final_deadline: datetime
    deadline_outcome: Verdict
    levels: list[LevelState]
    audit: list[AuditEntry] = Field(default_factory=list)
    verdict: Verdict | None = None
    decided_by: str | None = None
    process_id: str | None = None
    parts: list[str] = Field(default_factory=list)  # what may be accepted on its own
    accepted_parts: list[str] = Field(default_factory=list)  # what the decision accepted


class ApprovalOutcome(BaseModel):
    subject_id: str
    status: ApprovalStatus
    verdict: Verdict | None  # None only when cancelled
    decided_by: str | None  # the last person who decided; None when the deadline did
    timed_out: bool = False
    comment: str = ""
    audit: list[AuditEntry] = Field(default_factory=list)
    # The parts the decision accepted (empty: the decision was on the whole request).
    parts: list[str] = Field(default_factory=list)

    @property
    def approved(self) -> bool:
        return self.verdict is Verdict.APPROVED


class NoticeKind(StrEnum):
    REMINDER = "reminder"
    ESCALATION = "escalation"
    EXPIRED = "expired"


class ApprovalNotice(BaseModel):
    """A reminder or escalation for the people who can decide; sent at most once per key."""

    kind: NoticeKind
    subject_id: str
    summary: str
    level: int
    role: str
    recipients: list[str]  # usernames holding the role (or the assignee)
    due: datetime | None = None
    message: str
    # Derived from the subject, level and event (never random), so a retried or replayed
    # notification is recognisable as the same one by the receiver.
    idempotency_key: str
