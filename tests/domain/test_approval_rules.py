"""The approval rules without Temporal: refusals, escalation chains, the deadline outcome."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from domain.approvals import rules
from domain.approvals.models import (
    ApprovalDecision,
    ApprovalDelegation,
    ApprovalLevel,
    ApprovalRequest,
    ApprovalStatus,
    AuditAction,
    Person,
    Verdict,
)
from domain.business_calendar import BusinessCalendar

MONDAY_10 = datetime(2026, 11, 30, 9, tzinfo=UTC)  # 10:00 in Berlin
HOUR = timedelta(hours=1)
REQUEST = ApprovalRequest(
    subject_id="contract-K-1",
    kind="contract",
    requester="rita",
    amount=Decimal("50000"),
    currency="EUR",
    summary="Framework contract",
    contract=True,
    levels=[
        ApprovalLevel(role="sales_manager", sla=8 * HOUR, escalation_role="sales_director"),
        ApprovalLevel(role="legal", sla=8 * HOUR),
    ],
    final_deadline=40 * HOUR,
    escalations={
        "sales_manager": "sales_director",
        "sales_director": "cfo",
        "cfo": "sales_manager",
    },
    calendar=BusinessCalendar(time_zone="Europe/Berlin"),
    people={
        "rita": Person(name="Rita", roles=["sales_manager"]),
        "alice": Person(name="Alice", roles=["sales_manager", "legal"]),
        "carol": Person(name="Carol", roles=["legal"]),
        "frank": Person(name="Frank", roles=["cfo"]),
    },
)


def yes(who: str) -> ApprovalDecision:
    return ApprovalDecision(approver=who, verdict=Verdict.APPROVED)


def test_decided_requests_refuse_everything_with_who_decided() -> None:
    state = rules.new_state(REQUEST, MONDAY_10)
    rules.decide(
        state, REQUEST, ApprovalDecision(approver="alice", verdict=Verdict.REJECTED), MONDAY_10
    )
    assert state.status is ApprovalStatus.REJECTED
    assert rules.decision_problem(state, REQUEST, yes("carol")) == (
        "already decided: contract-K-1 is rejected by alice"
    )


def test_four_eyes_also_guards_who_receives_a_delegation() -> None:
    state = rules.new_state(REQUEST, MONDAY_10)
    rules.decide(state, REQUEST, yes("alice"), MONDAY_10)
    assert state.pending_role == "legal"
    assert rules.decision_problem(state, REQUEST, yes("alice")) == (
        "four-eyes: alice already approved level 1 (sales_manager) "
        "and may not decide level 2 (legal) too"
    )
    hand_on = ApprovalDelegation(approver="carol", to="alice")
    assert (rules.delegation_problem(state, REQUEST, hand_on) or "").startswith(
        "cannot delegate to alice: four-eyes: alice already approved level 1"
    )
    assert rules.delegation_problem(
        state, REQUEST, ApprovalDelegation(approver="carol", to="zed")
    ) == ("cannot delegate to zed: unknown approver 'zed': not in the people directory")


def test_escalation_follows_the_configured_chain_and_stops_before_a_loop() -> None:
    state = rules.new_state(REQUEST, MONDAY_10)
    level = state.levels[0]
    assert level.sla_deadline == MONDAY_10 + 8 * HOUR + 16 * HOUR  # Tuesday 10:00 Berlin
    assert rules.escalate(state, REQUEST, MONDAY_10) == "sales_director"
    assert rules.escalate(state, REQUEST, MONDAY_10) == "cfo"
    assert rules.escalate(state, REQUEST, MONDAY_10) is None  # cfo -> sales_manager: a loop
    assert level.roles == ["sales_manager", "sales_director", "cfo"]
    # Every role it passed through may still decide; the inbox shows the latest.
    assert state.pending_role == "cfo"
    assert rules.decision_problem(state, REQUEST, yes("frank")) is None
    assert rules.decision_problem(state, REQUEST, yes("alice")) is None
    assert rules.decision_problem(state, REQUEST, yes("carol")) == (
        "carol is not authorised to decide level 1: it needs sales_manager or sales_director "
        "or cfo, carol has legal"
    )


def test_the_final_deadline_applies_the_configured_outcome() -> None:
    state = rules.new_state(
        REQUEST.model_copy(update={"deadline_outcome": Verdict.APPROVED}), MONDAY_10
    )
    rules.expire(state, MONDAY_10 + 100 * HOUR)
    assert state.status is ApprovalStatus.EXPIRED and state.verdict is Verdict.APPROVED
    assert state.pending_role is None and state.decided_by is None
    assert state.audit[-1].action is AuditAction.EXPIRED
    assert state.audit[-1].comment == "final deadline passed: approved"


def test_requests_that_cannot_start_say_why() -> None:
    assert rules.request_problem(REQUEST) is None
    assert rules.request_problem(REQUEST.model_copy(update={"levels": []})) == (
        "approval contract-K-1 has no levels to decide"
    )
    zero = [ApprovalLevel(role="legal", sla=timedelta(0))]
    assert rules.request_problem(REQUEST.model_copy(update={"levels": zero})) == (
        "level 1 (legal): SLA must be positive, got 0:00:00"
    )


def test_only_an_approvals_people_may_view_it() -> None:
    state = rules.new_state(REQUEST, MONDAY_10)
    assert rules.may_view(state, "carol", ["legal"])  # a later level's role
    assert rules.may_view(state, "rita", ["sales_manager"])  # the requester
    assert not rules.may_view(state, "frank", ["cfo"])  # only an escalation away
    assert not rules.may_view(state, "bob", ["finance"])
    rules.escalate(state, REQUEST, MONDAY_10 + 9 * HOUR)  # to the sales director
    assert rules.may_view(state, "dave", ["sales_director"])


def test_parts_are_approved_among_those_offered_and_a_later_level_only_narrows() -> None:
    request = REQUEST.model_copy(update={"parts": ["1", "2", "3"], "process_id": "purchase-R-1"})
    state = rules.new_state(request, MONDAY_10)
    assert state.process_id == "purchase-R-1" and state.parts == ["1", "2", "3"]
    some = ApprovalDecision(approver="alice", verdict=Verdict.APPROVED, parts=["1", "4"])
    assert rules.decision_problem(state, request, some) == (
        "unknown parts 4: the request offers only 1, 2, 3"
    )
    no_part = ApprovalDecision(approver="alice", verdict=Verdict.REJECTED, parts=["1"])
    assert rules.decision_problem(state, request, no_part) == (
        "a rejection is of the whole request: name parts only when approving"
    )
    rules.decide(state, request, some.model_copy(update={"parts": ["1", "2"]}), MONDAY_10)
    assert state.accepted_parts == ["1", "2"]
    assert state.audit[-1].comment == "parts 1, 2"
    wider = ApprovalDecision(approver="carol", verdict=Verdict.APPROVED, parts=["3"])
    assert rules.decision_problem(state, request, wider) == (
        "unknown parts 3: the earlier level approved only 1, 2"
    )
    rules.decide(state, request, yes("carol"), MONDAY_10)  # the whole of what is left
    assert state.status is ApprovalStatus.APPROVED and state.accepted_parts == ["1", "2"]


def test_a_request_without_parts_is_decided_as_a_whole() -> None:
    state = rules.new_state(REQUEST, MONDAY_10)
    part = ApprovalDecision(approver="alice", verdict=Verdict.APPROVED, parts=["1"])
    assert rules.decision_problem(state, REQUEST, part) == (
        "contract-K-1 is decided as a whole: it has no parts to approve on their own"
    )
