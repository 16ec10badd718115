"""Purchasing policy from configuration: who approves a requisition, how far an invoice may
stray from the order and the receipts (tolerances per supplier and product category), who
decides an exception by the size of its variance, and the supplier's confirmation deadline.

Each purchase gets a copy at start, so a change applies to new purchases only.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from pydantic import BaseModel, Field

from domain.approvals.models import Person, Verdict
from domain.approvals.policy import RoleRule
from domain.business_calendar import BusinessCalendar
from domain.purchasing.models import Tolerance


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
