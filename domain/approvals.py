"""A person's decision on an order, and where the approval stands."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field


class Verdict(StrEnum):
    APPROVED = "approved"
    REJECTED = "rejected"


class ApprovalDecision(BaseModel):
    order_id: str
    approver: str
    comment: str = ""


class ApprovalState(BaseModel):
    reasons: list[str] = Field(default_factory=list)
    deadline: datetime
    verdict: Verdict | None = None
    decided_by: str | None = None
    decided_at: datetime | None = None
    comment: str = ""
    # True when nobody decided in time and the deadline rejected the order.
    timed_out: bool = False


def decision_problem(
    state: ApprovalState | None, decision: ApprovalDecision, order_id: str
) -> str | None:
    """Why a decision can't be taken, or None when it can."""
    if decision.order_id != order_id:
        return f"unknown order {decision.order_id!r}: this is order {order_id!r}"
    if not decision.approver.strip():
        return "approver must not be empty"
    if state is None:
        return f"order {order_id} is not waiting for approval"
    if state.verdict is not None:
        return f"order {order_id} was already {state.verdict.value} by {state.decided_by}"
    return None
