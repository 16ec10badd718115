"""When an order waits for a person, and which decisions are refused."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from domain.approval_policy import ApprovalPolicy, requires_approval
from domain.approvals import ApprovalDecision, ApprovalState, Verdict, decision_problem
from domain.credit import CreditStatus

POLICY = ApprovalPolicy(amount_threshold=Decimal("5000"), credit_usage_threshold=Decimal("0.8"))


def credit(limit: str, exposure: str = "0") -> CreditStatus:
    return CreditStatus(customer_id="C-1", credit_limit=Decimal(limit), exposure=Decimal(exposure))


def test_small_order_with_ample_credit_goes_through() -> None:
    assert not requires_approval(Decimal("100"), credit("10000"), POLICY).required


def test_amount_above_threshold_needs_approval() -> None:
    need = requires_approval(Decimal("5000.01"), credit("100000"), POLICY)
    assert need.required and need.reasons == ["total 5000.01 is above the approval threshold 5000"]
    assert not requires_approval(Decimal("5000"), credit("100000"), POLICY).required


def test_credit_usage_needs_approval() -> None:
    # 900 of 1000 available is 90 % > 80 %.
    need = requires_approval(Decimal("900"), credit("1500", "500"), POLICY)
    assert need.required and "available credit 1000" in need.reasons[0]
    assert not requires_approval(Decimal("800"), credit("1500", "500"), POLICY).required


def test_exhausted_credit_always_needs_approval() -> None:
    assert requires_approval(Decimal("1"), credit("100", "100"), POLICY).required


def test_decisions_that_are_refused_say_why() -> None:
    waiting = ApprovalState(deadline=datetime(2030, 1, 1, tzinfo=UTC))
    ok = ApprovalDecision(order_id="O-1", approver="maria")
    assert decision_problem(waiting, ok, "O-1") is None
    assert decision_problem(None, ok, "O-1") == "order O-1 is not waiting for approval"
    assert "unknown order 'O-2'" in (
        decision_problem(waiting, ok.model_copy(update={"order_id": "O-2"}), "O-1") or ""
    )
    assert (
        decision_problem(waiting, ok.model_copy(update={"approver": ""}), "O-1")
        == "approver must not be empty"
    )
    decided = waiting.model_copy(update={"verdict": Verdict.REJECTED, "decided_by": "li"})
    assert decision_problem(decided, ok, "O-1") == "order O-1 was already rejected by li"
