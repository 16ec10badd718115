"""An approval's business events (source `/continuum/approvals`, subject = the approval's subject,
e.g. `order-O-1`): requested, escalated, decided. Business keys, amounts and roles; who decided is
an employee's login, never a customer's personal data."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from pydantic import BaseModel

SOURCE = "/continuum/approvals"
REQUESTED = "approval.requested.v1"
ESCALATED = "approval.escalated.v1"
DECIDED = "approval.decided.v1"


class ApprovalRequested(BaseModel):
    subject_id: str
    kind: str  # order | purchase-exception | contract ...
    order_id: str | None
    amount: Decimal
    currency: str
    levels: list[str]  # the roles, in order
    pending_role: str | None
    sla_deadline: datetime | None
    final_deadline: datetime


class ApprovalEscalated(BaseModel):
    subject_id: str
    level: int
    from_role: str
    to_role: str
    sla_deadline: datetime | None


class ApprovalDecided(BaseModel):
    subject_id: str
    kind: str
    order_id: str | None
    status: str  # Approved | Rejected | Expired
    verdict: str | None
    decided_by: str | None  # None: the final deadline decided
    timed_out: bool


TYPES: dict[str, type[BaseModel]] = {
    REQUESTED: ApprovalRequested,
    ESCALATED: ApprovalEscalated,
    DECIDED: ApprovalDecided,
}
