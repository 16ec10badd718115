"""Purchasing policy: which tolerance applies, who approves a requisition, who decides an
exception, and a configuration that contradicts itself is refused naming the field."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from pydantic import ValidationError

from domain.approvals.policy import RoleRule
from domain.business_calendar import business_hours
from domain.purchasing.models import Supplier, Tolerance
from domain.purchasing.policy import (
    PurchasingPolicy,
    TolerancePolicy,
    exception_plan,
    purchase_approval_plan,
    tolerance_for,
)
from tests.purchasing_samples import line, requisition

POLICY = PurchasingPolicy()
SUPPLIER = Supplier(supplier_id="S-1", name="Bolt & Nut", currency="EUR")


def tol(pct: str) -> Tolerance:
    return Tolerance(quantity_pct=Decimal(pct))


def test_the_most_specific_tolerance_wins() -> None:
    policy = TolerancePolicy(
        default=tol("1"),
        by_category={"raw": tol("2")},
        by_supplier={"S-1": tol("3")},
        by_supplier_category={"S-1/raw": tol("4")},
    )
    assert tolerance_for(policy, "S-1", "raw") == tol("4")
    assert tolerance_for(policy, "S-1", "tools") == tol("3")
    assert tolerance_for(policy, "S-1", "") == tol("3")
    assert tolerance_for(policy, "S-2", "raw") == tol("2")
    assert tolerance_for(policy, "S-2", "tools") == tol("1")
    assert tolerance_for(policy, "S-2", "") == tol("1")


def roles(total: str, *, category: str = "", new: bool = False) -> list[str]:
    req = requisition(line(1, "1", total, category=category))
    supplier = SUPPLIER.model_copy(update={"new": new})
    return [level.role for level in purchase_approval_plan(req, supplier, POLICY).levels]


@pytest.mark.parametrize(
    ("total", "chain"),
    [
        ("1000", []),
        ("1000.01", ["purchasing_manager"]),
        ("10000", ["purchasing_manager"]),
        ("10000.01", ["purchasing_manager", "finance"]),
    ],
)
def test_a_requisition_on_each_side_of_the_thresholds(total: str, chain: list[str]) -> None:
    assert roles(total) == chain


def test_capital_goods_and_a_new_supplier_add_finance_once_after_the_manager() -> None:
    assert roles("500", category="capital_goods") == ["finance"]
    assert roles("500", new=True) == ["finance"]
    assert roles("20000", category="capital_goods", new=True) == ["purchasing_manager", "finance"]
    req = requisition(line(1, "2", "15000", product="Lathe", category="capital_goods"))
    plan = purchase_approval_plan(req, SUPPLIER.model_copy(update={"new": True}), POLICY)
    finance = plan.levels[1]
    assert finance.reason == (
        "total 30000 EUR is above the finance threshold 10000; line 1 (Lathe) is capital_goods; "
        "supplier S-1 is new (not yet approved)"
    )
    assert finance.sla == business_hours(16.0) and finance.escalation_role == "cfo"
    assert plan.final_deadline == business_hours(40.0) and len(plan.reasons) == 4


@pytest.mark.parametrize(
    ("variance", "role"),
    [
        ("0", "buyer"),
        ("100", "buyer"),
        ("100.01", "purchasing_manager"),
        ("1000", "purchasing_manager"),
        ("1000.01", "finance"),
    ],
)
def test_the_exception_reviewer_depends_on_the_variance(variance: str, role: str) -> None:
    plan = exception_plan(Decimal(variance), POLICY)
    assert [level.role for level in plan.levels] == [role]
    assert plan.levels[0].sla == business_hours(POLICY.roles[role].sla_business_hours)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"approval_threshold": "5000", "finance_threshold": "100"},
            "finance_threshold 100 must not be below approval_threshold 5000",
        ),
        (
            {"manager_variance_limit": "50"},
            "manager_variance_limit 50 must not be below buyer_variance_limit 100",
        ),
        ({"buyer_role": "clerk"}, "buyer_role: role 'clerk' has no entry in roles"),
        (
            {"roles": {**POLICY.roles, "cfo": RoleRule(escalation_role="board")}},
            "roles.cfo.escalation_role: role 'board' has no entry in roles",
        ),
        (
            {"roles": {**POLICY.roles, "cfo": RoleRule(reminder_lead_business_hours=16.0)}},
            "roles.cfo: reminder_lead_business_hours 16.0 must be below its SLA 16.0",
        ),
        (
            {"confirmation_reminder": timedelta(hours=48)},
            "confirmation_reminder 2 days, 0:00:00 must be above zero and before "
            "confirmation_deadline 2 days, 0:00:00",
        ),
    ],
)
def test_a_policy_that_contradicts_itself_is_refused(
    changes: dict[str, object], message: str
) -> None:
    with pytest.raises(ValidationError, match=re.escape(message)):
        PurchasingPolicy.model_validate(POLICY.model_dump() | changes)


def test_a_supplier_category_key_needs_both_parts() -> None:
    with pytest.raises(ValidationError, match="key 'raw' must be <supplier_id>/<category>"):
        TolerancePolicy(by_supplier_category={"raw": Tolerance()})
