"""When an order waits for a person, and which decisions are refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import ValidationError

from continuum.approvals.config import ApprovalConfigError, load_approval_policy
from domain.approvals.legacy_gate import GateDecision, GateState, gate_problem
from domain.approvals.models import Verdict
from domain.approvals.policy import (
    ApprovalPlan,
    ApprovalPolicy,
    RoleRule,
    approval_plan,
    order_approval_plan,
    requires_approval,
)
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


def test_legacy_gate_decisions_that_are_refused_say_why() -> None:
    waiting = GateState(deadline=datetime(2030, 1, 1, tzinfo=UTC))
    ok = GateDecision(order_id="O-1", approver="maria")
    assert gate_problem(waiting, ok, "O-1") is None
    assert gate_problem(None, ok, "O-1") == "order O-1 is not waiting for approval"
    assert "unknown order 'O-2'" in (
        gate_problem(waiting, ok.model_copy(update={"order_id": "O-2"}), "O-1") or ""
    )
    assert (
        gate_problem(waiting, ok.model_copy(update={"approver": ""}), "O-1")
        == "approver must not be empty"
    )
    decided = waiting.model_copy(update={"verdict": Verdict.REJECTED, "decided_by": "li"})
    assert gate_problem(decided, ok, "O-1") == "order O-1 was already rejected by li"


# --- the chain -----------------------------------------------------------------------------


def roles(plan: ApprovalPlan) -> list[str]:
    return [level.role for level in plan.levels]


def test_the_chain_grows_with_amount_contract_and_credit_risk() -> None:
    assert roles(approval_plan(Decimal("5000"), POLICY)) == []
    assert roles(approval_plan(Decimal("5000.01"), POLICY)) == ["sales_manager"]
    assert roles(approval_plan(Decimal("20000.01"), POLICY)) == ["sales_manager", "finance"]
    assert roles(approval_plan(Decimal("100"), POLICY, contract=True)) == ["legal"]
    assert roles(approval_plan(Decimal("100"), POLICY, credit_risk=True)) == ["finance"]
    everything = approval_plan(Decimal("30000"), POLICY, credit_risk=True, contract=True)
    assert roles(everything) == ["sales_manager", "finance", "legal"]  # finance once
    assert everything.reasons == [
        "amount 30000 is above the approval threshold 5000",
        "amount 30000 is above the finance threshold 20000",
        "credit risk",
        "a contract needs legal review",
    ]


def test_levels_carry_sla_reminder_and_escalation_from_configuration() -> None:
    policy = POLICY.model_copy(
        update={
            "roles": {
                **POLICY.roles,
                "finance": RoleRule(
                    sla_business_hours=24, reminder_lead_business_hours=3, escalation_role="cfo"
                ),
            }
        }
    )
    [level] = approval_plan(Decimal("10"), policy, credit_risk=True).levels
    assert (level.role, level.sla, level.reminder_lead, level.escalation_role) == (
        "finance",
        timedelta(hours=24),
        timedelta(hours=3),
        "cfo",
    )


def test_the_deadline_outcome_approves_only_low_risk_requests() -> None:
    policy = POLICY.model_copy(
        update={"low_risk_max_amount": Decimal("10000"), "low_risk_outcome": Verdict.APPROVED}
    )
    assert approval_plan(Decimal("6000"), policy).deadline_outcome is Verdict.APPROVED
    assert approval_plan(Decimal("10001"), policy).deadline_outcome is Verdict.REJECTED
    risky = approval_plan(Decimal("6000"), policy, credit_risk=True)
    assert risky.deadline_outcome is Verdict.REJECTED
    contract = approval_plan(Decimal("6000"), policy, contract=True)
    assert contract.deadline_outcome is Verdict.REJECTED


def test_an_order_s_credit_risk_adds_finance_with_the_reason() -> None:
    plan = order_approval_plan(Decimal("900"), credit("1500", "500"), POLICY)
    assert roles(plan) == ["finance"] and plan.credit_risk
    assert plan.reasons == ["total 900 uses more than 80% of the available credit 1000"]
    assert plan.levels[0].reason == plan.reasons[0]
    # The chain and the legacy yes/no agree on whether an order waits.
    for total in ("100", "900", "5001", "25000"):
        need = requires_approval(Decimal(total), credit("1500", "500"), POLICY)
        assert order_approval_plan(Decimal(total), credit("1500", "500"), POLICY).required == (
            need.required
        )


def test_configuration_mistakes_are_named() -> None:
    with pytest.raises(ValidationError, match="finance_threshold 100 must not be below"):
        ApprovalPolicy(finance_threshold=Decimal("100"))
    with pytest.raises(ValidationError, match="role 'legal' has no entry in roles"):
        ApprovalPolicy(roles={"sales_manager": RoleRule(), "finance": RoleRule()})
    with pytest.raises(ValidationError, match=r"reminder_lead_business_hours 8\.0 must be below"):
        ApprovalPolicy(
            roles={
                **ApprovalPolicy().roles,
                "legal": RoleRule(sla_business_hours=8, reminder_lead_business_hours=8),
            }
        )


def test_the_shipped_configuration_file_loads(tmp_path: Path) -> None:
    policy = load_approval_policy()
    assert policy.people["alice"].roles == ["sales_manager"]
    assert policy.people["bob"].roles == ["finance"]
    assert policy.escalations()["sales_manager"] == "sales_director"
    assert policy.calendar.time_zone == "Europe/Berlin" and policy.calendar.weekdays == [
        1,
        2,
        3,
        4,
        5,
    ]
    assert load_approval_policy(amount_threshold=Decimal("7000")).amount_threshold == 7000

    broken = tmp_path / "approvals.toml"
    broken.write_text('amount_threshold = "lots"\n[calendar]\ntime_zone = "Nowhere/Land"\n')
    with pytest.raises(ApprovalConfigError) as wrong:
        load_approval_policy(broken)
    message = str(wrong.value)
    assert str(broken) in message and "amount_threshold" in message
    assert "calendar.time_zone" in message and "unknown time zone 'Nowhere/Land'" in message
    with pytest.raises(ApprovalConfigError, match="cannot read approval config"):
        load_approval_policy(tmp_path / "missing.toml")
    broken.write_text("amount_threshold = ")
    with pytest.raises(ApprovalConfigError, match="is not valid"):
        load_approval_policy(broken)


# The shipped thresholds' edges (continuum/defaults/approvals.toml): at a threshold is not above it.
SHIPPED = load_approval_policy()
AMPLE = credit("1000000")


@pytest.mark.parametrize(
    ("total", "chain"),
    [
        ("4999.99", []),
        ("5000", []),
        ("5000.01", ["sales_manager"]),
        ("19999.99", ["sales_manager"]),
        ("20000", ["sales_manager"]),
        ("20000.01", ["sales_manager", "finance"]),
    ],
)
def test_an_order_on_each_side_of_the_shipped_thresholds(total: str, chain: list[str]) -> None:
    assert (SHIPPED.amount_threshold, SHIPPED.finance_threshold) == (Decimal(5000), Decimal(20000))
    plan = order_approval_plan(Decimal(total), AMPLE, SHIPPED)
    assert roles(plan) == chain
    assert requires_approval(Decimal(total), AMPLE, SHIPPED).required is bool(chain)


@pytest.mark.parametrize(
    ("total", "outcome"),
    [("9999.99", Verdict.APPROVED), ("10000", Verdict.APPROVED), ("10000.01", Verdict.REJECTED)],
)
def test_the_low_risk_deadline_outcome_ends_at_the_shipped_10000(
    total: str, outcome: Verdict
) -> None:
    assert Decimal(10000) == SHIPPED.low_risk_max_amount
    assert order_approval_plan(Decimal(total), AMPLE, SHIPPED).deadline_outcome is outcome
