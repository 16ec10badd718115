"""The single-level order approval of before the Approval process (kept for running orders).

Orders started before `workflow.patched("approval-workflow")` still wait on this gate and take
the order workflow's `approve`/`reject` Updates; their recorded histories must keep replaying.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from domain.approvals.models import Verdict


class GateDecision(BaseModel):
    order_id: str
    approver: str
    comment: str = ""


class GateState(BaseModel):
    reasons: list[str] = Field(default_factory=list)
    deadline: datetime
    verdict: Verdict | None = None
    decided_by: str | None = None
    decided_at: datetime | None = None
    comment: str = ""
    # True when nobody decided in time and the deadline rejected the order.
    timed_out: bool = False


def gate_problem(state: GateState | None, decision: GateDecision, order_id: str) -> str | None:
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
