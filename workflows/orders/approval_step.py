"""Order-to-cash's approval step: the Approval process as a child workflow.

Orders started before it (no `approval-workflow` patch marker in their history) keep the
single-level gate of `workflows.orders.legacy_gate`, so their histories still replay.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from temporalio import workflow
from temporalio.exceptions import ChildWorkflowError

with workflow.unsafe.imports_passed_through():
    from domain.approvals.models import ApprovalOutcome, ApprovalRequest, Verdict
    from domain.approvals.policy import order_approval_plan
    from domain.credit import CreditStatus
    from domain.orders.contract import OrderToCashInput, workflow_id
    from workflows.approval_child import start_approval, until_decided
    from workflows.orders.legacy_gate import ApprovalGate

PATCH = "approval-workflow"
DEADLINE = "the approval deadline"


@dataclass
class Decision:
    approved: bool
    decided_by: str
    reason: str  # why the order stops, for a rejection


class OrderApproval:
    def __init__(self, order_id: str) -> None:
        self.order_id = order_id
        self.gate = ApprovalGate(order_id)
        # True once the order waits on the Approval child (new orders): the gate is unused.
        self.in_child = False
        self.outcome: ApprovalOutcome | None = None

    async def wait(
        self, input: OrderToCashInput, credit: CreditStatus, reasons: list[str], stop: asyncio.Event
    ) -> Decision | None:
        """The decision, or None when `stop` came first (nothing decided, nothing to undo)."""
        if workflow.patched(PATCH):
            self.in_child = True
            return await self._child(input, credit, stop)
        state = await self.gate.wait(reasons, input.policy.deadline, stop)
        if state.verdict is None:
            return None
        who = DEADLINE if state.timed_out else state.decided_by or "?"
        comment = f": {state.comment}" if state.comment else ""
        return Decision(state.verdict is Verdict.APPROVED, who, f"rejected by {who}{comment}")

    async def _child(
        self, input: OrderToCashInput, credit: CreditStatus, stop: asyncio.Event
    ) -> Decision | None:
        handle = await start_approval(
            self.request(input, credit), f"Approval of order {self.order_id}"
        )
        if not await until_decided(handle, stop.is_set):
            return None
        try:
            outcome = self.outcome = handle.result()
        except ChildWorkflowError as err:
            cause = str(err.cause or err)
            return Decision(False, "approval", f"approval failed: {cause}")
        who = DEADLINE if outcome.decided_by is None else outcome.decided_by
        comment = f": {outcome.comment}" if outcome.comment else ""
        return Decision(outcome.approved, who, f"rejected by {who}{comment}")

    def request(self, input: OrderToCashInput, credit: CreditStatus) -> ApprovalRequest:
        order, policy = input.order, input.policy
        plan = order_approval_plan(order.total, credit, policy)
        customer = order.customer
        return ApprovalRequest(
            subject_id=workflow_id(order.order_id),
            kind="order",
            requester=input.entered_by or customer.customer_id,
            amount=order.total,
            currency=order.currency,
            summary=(
                f"Order {order.order_id} · {customer.company or customer.name} · "
                f"{order.total:,.2f} {order.currency}: {'; '.join(plan.reasons)}"
            ),
            credit_risk=plan.credit_risk,
            order_id=order.order_id,
            levels=plan.levels,
            final_deadline=plan.final_deadline,
            deadline_outcome=plan.deadline_outcome,
            escalations=policy.escalations(),
            calendar=policy.calendar,
            people=policy.people,
        )
