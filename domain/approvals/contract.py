"""The Approval process's contract: what the workflow and its clients (the order workflow, the
CLI, the inbox) agree on. Pure names (no Temporal import)."""

from __future__ import annotations

from domain.visibility import Kind, SearchAttribute

WORKFLOW_NAME = "Approval"


def approval_workflow_id(subject_id: str) -> str:
    """`approval-order-O-1` for subject `order-O-1`: one approval per subject, ever."""
    return f"approval-{subject_id}"


class Message:
    """Names of the workflow's query, updates and signal."""

    STATE = "state"  # query → ApprovalState
    DECIDE = "decide"  # update ApprovalDecision → ApprovalState
    CLAIM = "claim"  # update ApprovalClaim → ApprovalState
    DELEGATE = "delegate"  # update ApprovalDelegation → ApprovalState
    DECIDE_SIGNAL = "decide_signal"  # signal ApprovalDecision: a refusal is kept in the audit


# What waits for whom and until when (the approval inbox lists by these); the approval of an
# order also carries the order's OrderId.
APPROVAL_ROLE = SearchAttribute("ApprovalRole", Kind.KEYWORD)  # "" when nothing is pending
APPROVAL_ASSIGNEE = SearchAttribute("ApprovalAssignee", Kind.KEYWORD)
APPROVAL_DEADLINE = SearchAttribute("ApprovalDeadline", Kind.DATETIME)  # the level's SLA end
APPROVAL_STATUS = SearchAttribute("ApprovalStatus", Kind.KEYWORD)
SEARCH_ATTRIBUTES = [APPROVAL_ROLE, APPROVAL_ASSIGNEE, APPROVAL_DEADLINE, APPROVAL_STATUS]
