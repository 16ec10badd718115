"""The single-level approval step of order-to-cash, kept apart so it can be replaced whole."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain.approvals import ApprovalDecision, ApprovalState, Verdict, decision_problem


class ApprovalGate:
    def __init__(self, order_id: str) -> None:
        self.order_id = order_id
        self.state: ApprovalState | None = None

    def problem(self, decision: ApprovalDecision) -> str | None:
        return decision_problem(self.state, decision, self.order_id)

    def decide(self, decision: ApprovalDecision, verdict: Verdict) -> ApprovalState:
        assert self.state is not None
        self.state.verdict = verdict
        self.state.decided_by = decision.approver
        self.state.decided_at = workflow.now()
        self.state.comment = decision.comment
        return self.state

    async def wait(
        self, reasons: list[str], deadline: timedelta, stop: asyncio.Event
    ) -> ApprovalState:
        """Waits for a decision, `stop`, or the deadline (which rejects)."""
        state = self.state = ApprovalState(reasons=reasons, deadline=workflow.now() + deadline)
        try:
            await workflow.wait_condition(
                lambda: state.verdict is not None or stop.is_set(),
                timeout=deadline,
                timeout_summary="approval deadline",
            )
        except TimeoutError:
            state.verdict = Verdict.REJECTED
            state.decided_by = "deadline"
            state.decided_at = workflow.now()
            state.timed_out = True
        return state
