"""Approval: a chain of levels, each decided by a role within its SLA in business time.

Before a level's SLA ends its approvers are reminded; when it passes, the level escalates to
the next role with a new SLA; at the final deadline the configured outcome applies. Decisions
arrive as Updates (refused with a reason by their validators) or as a Signal (refusals are
kept in the audit trail). The rules live in `domain.approvals.rules`; this file waits and tells.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from temporalio import workflow
from temporalio.common import SearchAttributeUpdate
from temporalio.exceptions import ActivityError, ApplicationError, is_cancelled_exception

with workflow.unsafe.imports_passed_through():
    from activities.notifications import NotificationActivities
    from domain.approvals import rules
    from domain.approvals.contract import WORKFLOW_NAME, Message
    from domain.approvals.models import (
        ApprovalClaim,
        ApprovalDecision,
        ApprovalDelegation,
        ApprovalNotice,
        ApprovalOutcome,
        ApprovalRequest,
        ApprovalState,
        ApprovalStatus,
        LevelState,
        NoticeKind,
        Verdict,
    )
    from domain.events import approvals as events
    from workflows import search_attributes as sa
    from workflows.events import Events
    from workflows.failures import reason
    from workflows.policies import NOTIFY

# Approvals started before it hand over no business events (their histories have no markers).
EVENTS_PATCH = "approval-events"


@workflow.defn(name=WORKFLOW_NAME, failure_exception_types=[ValidationError])
class Approval:
    @workflow.init
    def __init__(self, request: ApprovalRequest) -> None:
        self._request = request
        self._published: list[Any] | None = None
        self._unschedulable: str | None = None
        self._events = Events(workflow.info().workflow_id, events.SOURCE, EVENTS_PATCH)
        try:
            # The first level opens at once, so a decision sent with the start is not refused.
            self._state = rules.new_state(request, workflow.now())
        except ValueError as err:
            # A request the calendar cannot schedule (a negative SLA, no working day): raising
            # here would fail the workflow task and retry it forever; `run` fails the workflow.
            self._unschedulable = f"the approval cannot be scheduled: {err}"
            self._state = rules.unscheduled_state(request, workflow.now())

    @workflow.run
    async def run(self, request: ApprovalRequest) -> ApprovalOutcome:
        if problem := rules.request_problem(request) or self._unschedulable:
            raise ApplicationError(problem, type="InvalidApprovalRequest", non_retryable=True)
        state = self._state
        if request.order_id:
            workflow.upsert_search_attributes([sa.ORDER_ID.value_set(request.order_id)])
        self._publish()
        self._emit_requested()
        try:
            while state.status is ApprovalStatus.PENDING:
                await self._watch(state.current_level or 0)
        except (asyncio.CancelledError, ActivityError) as err:
            if isinstance(err, ActivityError) and not is_cancelled_exception(err):
                raise
            # The subject went away (e.g. the order was cancelled): leave the inbox, then stop.
            rules.cancel(state, workflow.now(), "cancelled")
            self._publish()
            raise
        self._publish()
        outcome = self._outcome()
        self._emit_decided(outcome)
        await self._events.flush()
        return outcome

    def _emit_requested(self) -> None:
        state, request = self._state, self._request
        data = events.ApprovalRequested(
            subject_id=state.subject_id,
            kind=request.kind,
            order_id=request.order_id,
            amount=request.amount,
            currency=request.currency,
            levels=[level.role for level in request.levels],
            pending_role=state.pending_role,
            sla_deadline=state.sla_deadline,
            final_deadline=state.final_deadline,
        )
        self._events.emit(events.REQUESTED, state.subject_id, data)

    def _emit_decided(self, outcome: ApprovalOutcome) -> None:
        data = events.ApprovalDecided(
            subject_id=outcome.subject_id,
            kind=self._request.kind,
            order_id=self._request.order_id,
            status=outcome.status.value,
            verdict=outcome.verdict.value if outcome.verdict else None,
            decided_by=outcome.decided_by,
            timed_out=outcome.timed_out,
        )
        self._events.emit(events.DECIDED, outcome.subject_id, data)

    async def _watch(self, index: int) -> None:
        """Reminds, escalates and expires level `index` until it is decided or time runs out."""
        state, level = self._state, self._state.levels[index]
        exhausted = False  # the SLA passed and there is nobody left to escalate to

        def moved() -> bool:
            return state.status is not ApprovalStatus.PENDING or state.current_level != index

        while not moved():
            now = workflow.now()
            if now >= state.final_deadline:
                rules.expire(state, now)
                self._publish()
                await self._notify(NoticeKind.EXPIRED, level, state.deadline_outcome.value)
                return
            if not level.reminded and level.reminder_at and now >= level.reminder_at:
                rules.remind(state, now)
                await self._notify(NoticeKind.REMINDER, level, "decision due soon")
                continue
            if not exhausted and level.sla_deadline and now >= level.sla_deadline:
                if role := rules.escalate(state, self._request, now):
                    self._publish()
                    escalated = events.ApprovalEscalated(
                        subject_id=state.subject_id,
                        level=level.index,
                        from_role=level.roles[-2],
                        to_role=role,
                        sla_deadline=level.sla_deadline,
                    )
                    self._events.emit(events.ESCALATED, state.subject_id, escalated)
                    await self._notify(NoticeKind.ESCALATION, level, f"escalated to {role}")
                else:
                    exhausted = True
                continue
            wake = [state.final_deadline]
            if not level.reminded and level.reminder_at:
                wake.append(level.reminder_at)
            if not exhausted and level.sla_deadline:
                wake.append(level.sla_deadline)
            await self._sleep_until(min(wake), moved)

    async def _sleep_until(self, at: datetime, done: Callable[[], bool]) -> None:
        with contextlib.suppress(TimeoutError):
            await workflow.wait_condition(
                done, timeout=at - workflow.now(), timeout_summary="approval SLA"
            )

    async def _notify(self, kind: NoticeKind, level: LevelState, message: str) -> None:
        state = self._state
        recipients = [level.assignee] if level.assignee else self._holders(level.pending_role)
        # Stable per subject, level and event: a retry or replay reuses the key.
        key = f"{state.subject_id}:{level.index}:{kind.value}:{level.escalations}"
        notice = ApprovalNotice(
            kind=kind,
            subject_id=state.subject_id,
            summary=state.summary,
            level=level.index,
            role=level.pending_role,
            recipients=recipients,
            due=level.sla_deadline if kind is not NoticeKind.EXPIRED else None,
            message=message,
            idempotency_key=key,
        )
        try:
            await workflow.execute_activity_method(
                NotificationActivities.notify_approvers,
                notice,
                summary=f"{kind.value} {state.subject_id}",
                **NOTIFY,
            )
        except ActivityError as err:
            if is_cancelled_exception(err):
                raise
            # A notice that cannot be delivered must not decide the approval: the SLA, the
            # escalation and the deadline go on; the failure is in the history and the log.
            workflow.logger.warning("could not notify %s: %s", recipients, reason(err))

    def _holders(self, role: str) -> list[str]:
        return sorted(u for u, p in self._request.people.items() if role in p.roles)

    def _publish(self) -> None:
        """Search attributes and UI details follow the state; unchanged values are not re-sent."""
        state = self._state
        values = [state.pending_role or "", state.assignee or "", state.sla_deadline, state.status]
        if values == self._published:
            return
        # A new status or a new level waiting: the approval's state changed (the watchdog's clock).
        before = self._published or [None] * len(values)
        moved = values[0] != before[0] or values[3] != before[3]
        self._published = values
        updates: list[SearchAttributeUpdate[Any]] = [
            sa.APPROVAL_ROLE.value_set(state.pending_role or ""),
            sa.APPROVAL_ASSIGNEE.value_set(state.assignee or ""),
            sa.APPROVAL_STATUS.value_set(state.status.value),
        ]
        if moved:
            updates += sa.state_since()
        # Once decided, the last deadline stays (unsetting it broke describe on the test server).
        if state.sla_deadline:
            updates.append(sa.APPROVAL_DEADLINE.value_set(state.sla_deadline))
        workflow.upsert_search_attributes(updates)
        details = f"**{state.status.value}** {state.summary}"
        if state.pending_role:
            who = f" ({state.assignee})" if state.assignee else ""
            details += f"\n\nwaiting for {state.pending_role}{who} until {state.sla_deadline}"
        workflow.set_current_details(details)

    def _outcome(self) -> ApprovalOutcome:
        state = self._state
        decided = [lv for lv in state.levels if lv.decided_by]
        return ApprovalOutcome(
            subject_id=state.subject_id,
            status=state.status,
            verdict=state.verdict,
            decided_by=state.decided_by,
            timed_out=state.status is ApprovalStatus.EXPIRED,
            comment=decided[-1].comment if decided and state.decided_by else "",
            audit=state.audit,
            parts=state.accepted_parts if state.verdict is Verdict.APPROVED else [],
        )

    # --- people ---------------------------------------------------------------------------------

    @workflow.query(name=Message.STATE)
    def state(self) -> ApprovalState:
        return self._state

    @workflow.update(name=Message.DECIDE)
    def decide(self, decision: ApprovalDecision) -> ApprovalState:
        self._apply(decision)
        return self._state

    def _apply(self, decision: ApprovalDecision) -> None:
        rules.decide(self._state, self._request, decision, workflow.now())
        self._publish()

    @decide.validator
    def _check_decide(self, decision: ApprovalDecision) -> None:
        _raise(rules.decision_problem(self._state, self._request, decision))

    @workflow.update(name=Message.CLAIM)
    def claim(self, claim: ApprovalClaim) -> ApprovalState:
        rules.claim(self._state, self._request, claim, workflow.now())
        self._publish()
        return self._state

    @claim.validator
    def _check_claim(self, claim: ApprovalClaim) -> None:
        _raise(rules.claim_problem(self._state, self._request, claim))

    @workflow.update(name=Message.DELEGATE)
    def delegate(self, delegation: ApprovalDelegation) -> ApprovalState:
        rules.delegate(self._state, self._request, delegation, workflow.now())
        self._publish()
        return self._state

    @delegate.validator
    def _check_delegate(self, delegation: ApprovalDelegation) -> None:
        _raise(rules.delegation_problem(self._state, self._request, delegation))

    @workflow.signal(name=Message.DECIDE_SIGNAL)
    def decide_signal(self, decision: ApprovalDecision) -> None:
        """For systems that cannot wait for an answer: a refusal is kept, never raised."""
        if problem := rules.decision_problem(self._state, self._request, decision):
            workflow.logger.warning("refused a signalled decision: %s", problem)
            rules.refuse(self._state, decision.approver, problem, workflow.now())
            return
        self._apply(decision)


def _raise(problem: str | None) -> None:
    if problem is not None:
        raise ValueError(problem)
