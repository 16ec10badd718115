"""LEGACY: the single-level approval gate of orders started before the Approval process.

Everything the old gate needs on the workflow side is here: the gate and the `approval` query
and `approve`/`reject` updates that drive it (`LegacyGateHandlers`, a base class of
OrderToCash). Orders started after `workflow.patched("approval-workflow")` wait on the Approval
child instead (workflows/orders/approval_step.py) and refuse these updates, naming the child.
The gate's models are in domain/approvals/legacy_gate.py, the client's fallback in
continuum/order_client.py (`approval`, `decide`).

Its lifecycle (the SDK's patch steps: `patched` → `deprecate_patch` → delete):
1. now: `patched("approval-workflow")` chooses; two recorded histories replay the old path
   (tests/histories/order_to_cash_approval_deadline.json, ..._approved_then_overdue.json).
2. when no order started before the patch is open — `temporal workflow count --query
   'WorkflowType="OrderToCash" AND ExecutionStatus="Running" AND StartTime < "<date of the
   release that added the patch>"'` answers 0 (`continuum release patches` will tell once it
   exists) — replace `patched` by `deprecate_patch("approval-workflow")` and drop the old branch.
3. once no history with the marker's old branch needs replaying (retention passed): delete this
   module, domain/approvals/legacy_gate.py, the client's fallback and those two histories.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Protocol

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain.approvals.contract import approval_workflow_id
    from domain.approvals.legacy_gate import GateDecision, GateState, gate_problem
    from domain.approvals.models import Verdict
    from domain.orders.contract import Message, workflow_id
    from domain.orders.lifecycle import CancelRequest


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


class _Approval(Protocol):
    gate: ApprovalGate
    in_child: bool  # True once the order waits on the Approval child instead of the gate


class LegacyGateHandlers:
    """The old gate's query and updates, on the order workflow."""

    _approval: _Approval
    _cancel: CancelRequest | None

    @workflow.query(name=Message.APPROVAL)
    def approval(self) -> GateState | None:
        return self._approval.gate.state

    @workflow.update(name=Message.APPROVE)
    def approve(self, decision: GateDecision) -> GateState:
        return self._approval.gate.decide(decision, Verdict.APPROVED)

    @workflow.update(name=Message.REJECT)
    def reject(self, decision: GateDecision) -> GateState:
        return self._approval.gate.decide(decision, Verdict.REJECTED)

    @approve.validator
    def _check_approve(self, decision: GateDecision) -> None:
        self._check_gate_decision(decision)

    @reject.validator
    def _check_reject(self, decision: GateDecision) -> None:
        self._check_gate_decision(decision)

    def _check_gate_decision(self, decision: GateDecision) -> None:
        gate = self._approval.gate
        oid = gate.order_id
        if self._approval.in_child:
            child = approval_workflow_id(workflow_id(oid))
            raise ValueError(f"order {oid} is decided in workflow {child} (decide)")
        if problem := gate.problem(decision):
            raise ValueError(problem)
        if self._cancel is not None:
            raise ValueError(f"order {oid} is being cancelled")
