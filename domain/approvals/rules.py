"""What may happen to an approval, and what it does to the state. Pure: time is passed in.

Each `*_problem` function says in one sentence why an action is refused, or returns None;
the workflow's validators raise it, and its signal handler records it as a refusal.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from domain.approvals.models import (
    ApprovalClaim,
    ApprovalDecision,
    ApprovalDelegation,
    ApprovalRequest,
    ApprovalState,
    ApprovalStatus,
    AuditAction,
    AuditEntry,
    LevelState,
    Verdict,
)
from domain.business_calendar import add_business_time

SYSTEM = "system"


def request_problem(request: ApprovalRequest) -> str | None:
    """Why a request cannot start an approval, or None."""
    if not request.levels:
        return f"approval {request.subject_id} has no levels to decide"
    if not request.requester.strip():
        return "requester must not be empty"
    if request.final_deadline <= timedelta(0):
        return f"final deadline must be positive, got {request.final_deadline}"
    for i, level in enumerate(request.levels):
        if level.sla <= timedelta(0):
            return f"level {i + 1} ({level.role}): SLA must be positive, got {level.sla}"
    return None


def new_state(request: ApprovalRequest, now: datetime) -> ApprovalState:
    """The state of a new request, its first level open; ValueError when the calendar cannot
    schedule it (a negative duration, no working day)."""
    final = add_business_time(request.calendar, now, request.final_deadline)
    state = unscheduled_state(request, final)
    state.levels = [
        LevelState(index=i, role=level.role, roles=[level.role])
        for i, level in enumerate(request.levels)
    ]
    chain = " → ".join(level.role for level in request.levels)
    _audit(state, now, request.requester, "", AuditAction.REQUESTED, None, chain)
    if state.levels:
        start_level(state, request, 0, now)
    return state


def unscheduled_state(request: ApprovalRequest, final_deadline: datetime) -> ApprovalState:
    """A request's state before any level opens (all there is of one that cannot be scheduled)."""
    return ApprovalState(
        subject_id=request.subject_id,
        kind=request.kind,
        requester=request.requester,
        summary=request.summary,
        amount=request.amount,
        currency=request.currency,
        final_deadline=final_deadline,
        deadline_outcome=request.deadline_outcome,
        levels=[],
        process_id=request.process_id,
        parts=list(request.parts),
    )


def start_level(state: ApprovalState, request: ApprovalRequest, index: int, now: datetime) -> None:
    """Opens level `index`: its SLA and reminder are counted from `now` in business time."""
    level = state.levels[index]
    level.started_at = now
    _set_clock(level, request, now)
    state.current_level = index
    _refresh(state)


def _set_clock(level: LevelState, request: ApprovalRequest, now: datetime) -> None:
    config, calendar = request.levels[level.index], request.calendar
    sla, lead = config.sla, config.reminder_lead
    level.sla_deadline = add_business_time(calendar, now, sla)
    level.reminder_at = add_business_time(calendar, now, sla - lead) if lead < sla else None
    level.reminded = level.reminder_at is None


def _refresh(state: ApprovalState) -> None:
    level = current(state)
    state.pending_role = level.pending_role if level else None
    state.assignee = level.assignee if level else None
    state.sla_deadline = level.sla_deadline if level else None


def current(state: ApprovalState) -> LevelState | None:
    if state.status is not ApprovalStatus.PENDING or state.current_level is None:
        return None
    return state.levels[state.current_level]


def _audit(
    state: ApprovalState,
    now: datetime,
    actor: str,
    role: str,
    action: AuditAction,
    level: int | None,
    comment: str = "",
) -> None:
    entry = AuditEntry(at=now, actor=actor, role=role, action=action, level=level, comment=comment)
    state.audit.append(entry)


# --- who may do what ---------------------------------------------------------------------------


def already_decided(state: ApprovalState) -> str:
    by = f" by {state.decided_by}" if state.decided_by else ""
    return f"already decided: {state.subject_id} is {state.status.value.lower()}{by}"


def _actor_problem(
    state: ApprovalState, request: ApprovalRequest, who: str, doing: str
) -> str | None:
    if state.status is not ApprovalStatus.PENDING:
        return already_decided(state)
    if not who.strip():
        return "approver must not be empty"
    if who not in request.people:
        return f"unknown approver {who!r}: not in the people directory"
    if who == request.requester:
        return f"{who} requested {state.subject_id} and may not {doing} their own request"
    level = current(state)
    if level is None:
        return f"{state.subject_id} has no level waiting for a decision yet"
    for earlier in state.levels[: level.index]:
        if earlier.decided_by == who:
            return (
                f"four-eyes: {who} already approved level {earlier.index + 1} ({earlier.role}) "
                f"and may not {doing} level {level.index + 1} ({level.role}) too"
            )
    return None


def _authority_problem(
    state: ApprovalState, request: ApprovalRequest, level: LevelState, who: str, doing: str
) -> str | None:
    """Refuses `who` unless they hold the level's role or the level was handed to them."""
    assignee = level.assignee
    if assignee is not None and assignee != who:
        how = "delegated to" if level.delegated_to else "claimed by"
        return f"level {level.index + 1} ({level.pending_role}) is {how} {assignee}, not {who}"
    if assignee == who:
        return None
    held = request.people[who].roles
    if not set(held) & set(level.roles):
        needed = " or ".join(level.roles)
        has = ", ".join(held) or "no roles"
        return (
            f"{who} is not authorised to {doing} level {level.index + 1}: it needs {needed}, "
            f"{who} has {has}"
        )
    return None


def decision_problem(
    state: ApprovalState, request: ApprovalRequest, decision: ApprovalDecision
) -> str | None:
    who = decision.approver
    if problem := _actor_problem(state, request, who, "decide"):
        return problem
    level = current(state)
    assert level is not None
    if decision.level is not None and decision.level != level.index:
        return (
            f"wrong level: level {decision.level + 1} is not pending; "
            f"level {level.index + 1} ({level.pending_role}) is"
        )
    if problem := _authority_problem(state, request, level, who, "decide"):
        return problem
    return _parts_problem(state, decision)


def _parts_problem(state: ApprovalState, decision: ApprovalDecision) -> str | None:
    """Parts are approved, never rejected one by one (the parts not approved count as
    rejected), and only among those the request offers or an earlier level kept."""
    if not decision.parts:
        return None
    if decision.verdict is Verdict.REJECTED:
        return "a rejection is of the whole request: name parts only when approving"
    if not state.parts:
        return f"{state.subject_id} is decided as a whole: it has no parts to approve on their own"
    offered = state.accepted_parts or state.parts
    if unknown := [p for p in decision.parts if p not in offered]:
        which = "the earlier level approved" if state.accepted_parts else "the request offers"
        return f"unknown parts {', '.join(unknown)}: {which} only {', '.join(offered)}"
    return None


def claim_problem(
    state: ApprovalState, request: ApprovalRequest, claim: ApprovalClaim
) -> str | None:
    if problem := _actor_problem(state, request, claim.approver, "claim"):
        return problem
    level = current(state)
    assert level is not None
    if level.assignee == claim.approver:
        return f"level {level.index + 1} is already assigned to {claim.approver}"
    return _authority_problem(state, request, level, claim.approver, "claim")


def delegation_problem(
    state: ApprovalState, request: ApprovalRequest, delegation: ApprovalDelegation
) -> str | None:
    if problem := _actor_problem(state, request, delegation.approver, "delegate"):
        return problem
    level = current(state)
    assert level is not None
    if problem := _authority_problem(state, request, level, delegation.approver, "delegate"):
        return problem
    to = delegation.to
    if to == delegation.approver:
        return f"{to} cannot delegate to themselves"
    # The receiver must be someone who could decide: known, not the requester, not four-eyes.
    if problem := _actor_problem(state, request, to, "receive"):
        return f"cannot delegate to {to}: {problem}"
    return None


# --- what actions do -----------------------------------------------------------------------------


def decide(
    state: ApprovalState, request: ApprovalRequest, decision: ApprovalDecision, now: datetime
) -> None:
    """Records the decision; a rejection or the last approval ends it, else the next level opens."""
    level = current(state)
    assert level is not None
    level.verdict, level.decided_by, level.decided_at = decision.verdict, decision.approver, now
    level.comment = decision.comment
    comment = decision.comment
    if decision.verdict is Verdict.APPROVED and decision.parts:
        # A later level may narrow what an earlier one approved, never widen it.
        kept = state.accepted_parts or state.parts
        state.accepted_parts = [p for p in kept if p in decision.parts]
        only = f"parts {', '.join(state.accepted_parts)}"
        comment = f"{only}: {comment}" if comment else only
    action = AuditAction(decision.verdict.value)
    _audit(state, now, decision.approver, level.pending_role, action, level.index, comment)
    if decision.verdict is Verdict.REJECTED or level.index == len(state.levels) - 1:
        _finish(state, decision.verdict, decision.approver)
    else:
        start_level(state, request, level.index + 1, now)


def claim(
    state: ApprovalState, request: ApprovalRequest, claim: ApprovalClaim, now: datetime
) -> None:
    level = current(state)
    assert level is not None
    level.claimed_by = claim.approver
    _audit(
        state,
        now,
        claim.approver,
        _role_of(request, claim.approver, level),
        AuditAction.CLAIMED,
        level.index,
    )
    _refresh(state)


def delegate(
    state: ApprovalState, request: ApprovalRequest, delegation: ApprovalDelegation, now: datetime
) -> None:
    level = current(state)
    assert level is not None
    level.delegated_to, level.claimed_by = delegation.to, None
    role = _role_of(request, delegation.approver, level)
    comment = f"to {delegation.to}" + (f": {delegation.comment}" if delegation.comment else "")
    _audit(state, now, delegation.approver, role, AuditAction.DELEGATED, level.index, comment)
    _refresh(state)


def refuse(state: ApprovalState, who: str, problem: str, now: datetime) -> None:
    """A decision that arrived as a signal and was refused: kept, and otherwise ignored."""
    level = state.current_level if state.status is ApprovalStatus.PENDING else None
    _audit(state, now, who or "?", "", AuditAction.REFUSED, level, problem)


def remind(state: ApprovalState, now: datetime) -> LevelState:
    level = current(state)
    assert level is not None
    level.reminded = True
    due = level.sla_deadline.isoformat() if level.sla_deadline else "?"
    _audit(state, now, SYSTEM, level.pending_role, AuditAction.REMINDED, level.index, f"due {due}")
    return level


def escalate(state: ApprovalState, request: ApprovalRequest, now: datetime) -> str | None:
    """Hands the level to the next role with a new SLA; None when there is nobody to take it."""
    level = current(state)
    assert level is not None
    target = _escalation_role(request, level)
    if target is None:
        return None
    level.roles.append(target)
    level.escalations += 1
    level.claimed_by = level.delegated_to = None
    _set_clock(level, request, now)
    comment = f"SLA passed; escalated from {level.roles[-2]} to {target}"
    _audit(state, now, SYSTEM, target, AuditAction.ESCALATED, level.index, comment)
    _refresh(state)
    return target


def _escalation_role(request: ApprovalRequest, level: LevelState) -> str | None:
    """The level's configured escalation, then each escalation role's own (no loops)."""
    config = request.levels[level.index]
    if level.escalations == 0:
        target = config.escalation_role
    else:
        target = request.escalations.get(level.roles[-1])
    return target if target and target not in level.roles else None


def expire(state: ApprovalState, now: datetime) -> None:
    level = current(state)
    outcome = state.deadline_outcome
    role = level.pending_role if level else ""
    index = level.index if level else None
    _audit(
        state,
        now,
        SYSTEM,
        role,
        AuditAction.EXPIRED,
        index,
        f"final deadline passed: {outcome.value}",
    )
    _finish(state, outcome, None, ApprovalStatus.EXPIRED)


def cancel(state: ApprovalState, now: datetime, reason: str) -> None:
    level = current(state)
    index = level.index if level else None
    _audit(state, now, SYSTEM, "", AuditAction.CANCELLED, index, reason)
    state.status = ApprovalStatus.CANCELLED
    _refresh(state)


def _finish(
    state: ApprovalState, verdict: Verdict, by: str | None, status: ApprovalStatus | None = None
) -> None:
    state.verdict, state.decided_by = verdict, by
    state.status = status or (
        ApprovalStatus.APPROVED if verdict is Verdict.APPROVED else ApprovalStatus.REJECTED
    )
    _refresh(state)


def _role_of(request: ApprovalRequest, who: str, level: LevelState) -> str:
    held = [r for r in level.roles if r in request.people[who].roles]
    return held[-1] if held else level.pending_role


def may_view(state: ApprovalState, user: str, roles: list[str]) -> bool:
    """Who may see an approval (and the customer's data in it): the people who could decide a
    level, the one it is claimed by or delegated to, the requester, and whoever acted on it."""
    if user == state.requester or any(e.actor == user for e in state.audit):
        return True
    return any(
        user in (level.claimed_by, level.delegated_to) or set(roles) & set(level.roles)
        for level in state.levels
    )
