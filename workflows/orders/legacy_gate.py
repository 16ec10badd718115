"""The single-level approval step of order-to-cash, for orders started before the Approval
process replaced it (`workflow.patched("approval-workflow")`); kept so they still replay."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain.approvals.legacy_gate import GateDecision, GateState, gate_problem
    from domain.approvals.models import Verdict


class ApprovalGate:
    def __init__(self, order_id: str) -> None:
        self.order_id = order_id
        self.state: GateState | None = None

    def problem(self, decision: GateDecision) -> str | None:
        return gate_problem(self.state, decision, self.order_id)

    def decide(self, decision: GateDecision, verdict: Verdict) -> GateState:
        assert self.state is not None
        self.state.verdict = verdict
        self.state.decided_by = decision.approver
        self.state.decided_at = workflow.now()
        self.state.comment = decision.comment
        return self.state

    async def wait(self, reasons: list[str], deadline: timedelta, stop: asyncio.Event) -> GateState:
        """Waits for a decision, `stop`, or the deadline (which rejects)."""
        state = self.state = GateState(reasons=reasons, deadline=workflow.now() + deadline)
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
