"""Purchasing policy from configuration: who approves a requisition, how far an invoice may
stray from the order and the receipts (tolerances per supplier and product category), who
decides an exception by the size of its variance, and the supplier's confirmation deadline.

Each purchase gets a copy at start, so a change applies to new purchases only.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from pydantic import BaseModel, Field, model_validator

from domain.approvals.models import Person, Verdict
from domain.approvals.policy import ApprovalPlan, RoleRule, approval_level
from domain.business_calendar import BusinessCalendar, business_hours
from domain.purchasing.models import Requisition, Supplier, Tolerance


def _default_roles() -> dict[str, RoleRule]:
    return {
        "buyer": RoleRule(
            sla_business_hours=8.0,
            reminder_lead_business_hours=2.0,
            escalation_role="purchasing_manager",
        ),
        "purchasing_manager": RoleRule(escalation_role="cfo"),
        "finance": RoleRule(escalation_role="cfo"),
        "cfo": RoleRule(sla_business_hours=8.0, reminder_lead_business_hours=2.0),
    }


class TolerancePolicy(BaseModel):
    """The most specific entry wins: supplier and category, supplier, category, default."""

    default: Tolerance = Field(default_factory=Tolerance)
    by_supplier: dict[str, Tolerance] = Field(default_factory=dict)
    by_category: dict[str, Tolerance] = Field(default_factory=dict)
    # "<supplier_id>/<category>" -> tolerance
    by_supplier_category: dict[str, Tolerance] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _keys_name_supplier_and_category(self) -> TolerancePolicy:
        for key in self.by_supplier_category:
            supplier, slash, category = key.partition("/")
            if not (slash and supplier and category) or "/" in category:
                raise ValueError(
                    f"by_supplier_category key {key!r} must be <supplier_id>/<category>"
                )
        return self


class PurchasingPolicy(BaseModel):
    # Requisitions above this total wait for a purchasing manager ...
    approval_threshold: Decimal = Decimal("1000")
    # ... and above this one for finance too.
    finance_threshold: Decimal = Decimal("10000")
    # Lines in these categories (e.g. capital goods) need finance whatever the total.
    finance_categories: list[str] = Field(default_factory=lambda: ["capital_goods"])
    # A supplier not yet on the approved list (Supplier.new) needs finance too.
    manager_role: str = "purchasing_manager"
    finance_role: str = "finance"

    # Exceptions: who decides depends on the total variance (absolute, in the currency).
    buyer_role: str = "buyer"
    buyer_variance_limit: Decimal = Decimal("100")  # up to this: a buyer
    manager_variance_limit: Decimal = Decimal(
        "1000"
    )  # up to this: a purchasing manager; above: finance

    roles: dict[str, RoleRule] = Field(default_factory=_default_roles)
    final_deadline_business_hours: float = Field(40.0, gt=0)
    # What the final deadline decides: a requisition is rejected; an exception review
    # rejects the lines in exception (the supplier is asked for a credit note).
    deadline_outcome: Verdict = Verdict.REJECTED

    tolerances: TolerancePolicy = Field(default_factory=TolerancePolicy)

    # The supplier confirms the order within this (wall-clock) time; a reminder goes out
    # after `confirmation_reminder`, and at the deadline the purchase is marked overdue and
    # escalated to the manager role (it keeps waiting).
    confirmation_deadline: timedelta = timedelta(hours=48)
    confirmation_reminder: timedelta = timedelta(hours=24)

    calendar: BusinessCalendar = Field(default_factory=BusinessCalendar)
    people: dict[str, Person] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _consistent(self) -> PurchasingPolicy:
        if self.finance_threshold < self.approval_threshold:
            raise ValueError(
                f"finance_threshold {self.finance_threshold} must not be below "
                f"approval_threshold {self.approval_threshold}"
            )
        if self.manager_variance_limit < self.buyer_variance_limit:
            raise ValueError(
                f"manager_variance_limit {self.manager_variance_limit} must not be below "
                f"buyer_variance_limit {self.buyer_variance_limit}"
            )
        for field in ("approval_threshold", "buyer_variance_limit"):
            if getattr(self, field) < 0:
                raise ValueError(f"{field} must not be negative, got {getattr(self, field)}")
        named = {
            "manager_role": self.manager_role,
            "finance_role": self.finance_role,
            "buyer_role": self.buyer_role,
        }
        named |= {
            f"roles.{role}.escalation_role": rule.escalation_role
            for role, rule in self.roles.items()
            if rule.escalation_role
        }
        for field, role in named.items():
            if role not in self.roles:
                raise ValueError(
                    f"{field}: role {role!r} has no entry in roles (SLA, reminder, escalation)"
                )
        for name, rule in self.roles.items():
            if rule.reminder_lead_business_hours >= rule.sla_business_hours:
                raise ValueError(
                    f"roles.{name}: reminder_lead_business_hours "
                    f"{rule.reminder_lead_business_hours} must be below its SLA "
                    f"{rule.sla_business_hours}"
                )
        if not timedelta(0) < self.confirmation_reminder < self.confirmation_deadline:
            raise ValueError(
                f"confirmation_reminder {self.confirmation_reminder} must be above zero and "
                f"before confirmation_deadline {self.confirmation_deadline}"
            )
        return self

    def escalations(self) -> dict[str, str]:
        """Role -> who takes over from it (an ApprovalRequest's `escalations`)."""
        return {role: r.escalation_role for role, r in self.roles.items() if r.escalation_role}


def tolerance_for(tolerances: TolerancePolicy, supplier_id: str, category: str) -> Tolerance:
    """The most specific tolerance: supplier and category, supplier, category, the default.
    An entry replaces the less specific ones whole (no field-by-field merging: what the
    configuration shows for a key is what applies)."""
    if category and (hit := tolerances.by_supplier_category.get(f"{supplier_id}/{category}")):
        return hit
    if hit := tolerances.by_supplier.get(supplier_id):
        return hit
    if category and (hit := tolerances.by_category.get(category)):
        return hit
    return tolerances.default


def purchase_approval_plan(
    req: Requisition, supplier: Supplier, policy: PurchasingPolicy
) -> ApprovalPlan:
    """A requisition's chain: the manager role above the approval threshold, then finance
    above the finance threshold, for a finance category or for a new supplier; each role once.
    No levels: the purchase needs no approval."""
    needed: dict[str, list[str]] = {}  # role -> why, in chain order
    total = req.total
    if total > policy.approval_threshold:
        needed.setdefault(policy.manager_role, []).append(
            f"total {total} {req.currency} is above the approval threshold "
            f"{policy.approval_threshold}"
        )
    finance: list[str] = []
    if total > policy.finance_threshold:
        finance.append(
            f"total {total} {req.currency} is above the finance threshold "
            f"{policy.finance_threshold}"
        )
    finance += [
        f"line {line.line_no} ({line.product}) is {line.category}"
        for line in req.lines
        if line.category in policy.finance_categories
    ]
    if supplier.new:
        finance.append(f"supplier {supplier.supplier_id} is new (not yet approved)")
    if finance:
        # setdefault: a finance role that is also the manager role stays one level.
        needed.setdefault(policy.finance_role, []).extend(finance)
    return ApprovalPlan(
        levels=[approval_level(role, "; ".join(why), policy.roles) for role, why in needed.items()],
        reasons=[reason for why in needed.values() for reason in why],
        final_deadline=business_hours(policy.final_deadline_business_hours),
        deadline_outcome=policy.deadline_outcome,
    )


def exception_plan(variance: Decimal, policy: PurchasingPolicy) -> ApprovalPlan:
    """One level, by the size of the variance in exception: a buyer up to their limit, a
    purchasing manager up to theirs, finance above."""
    if variance <= policy.buyer_variance_limit:
        role = policy.buyer_role
        reason = f"variance {variance} is within the buyer's limit {policy.buyer_variance_limit}"
    elif variance <= policy.manager_variance_limit:
        role = policy.manager_role
        reason = (
            f"variance {variance} is above the buyer's limit {policy.buyer_variance_limit}, "
            f"within the manager's {policy.manager_variance_limit}"
        )
    else:
        role = policy.finance_role
        reason = f"variance {variance} is above the manager's limit {policy.manager_variance_limit}"
    return ApprovalPlan(
        levels=[approval_level(role, reason, policy.roles)],
        reasons=[reason],
        final_deadline=business_hours(policy.final_deadline_business_hours),
        deadline_outcome=policy.deadline_outcome,
    )
