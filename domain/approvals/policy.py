"""Who must approve a request, in what order, by when, and why. Thresholds come from configuration.

Orders over `amount_threshold` need the sales role, over `finance_threshold` also finance;
contracts also need legal; a credit-risk flag adds finance. Each role has an SLA in business
time, a reminder lead and an escalation role; past the final deadline the configured outcome
applies (approval only for low-risk requests).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from decimal import Decimal

from pydantic import BaseModel, Field, model_validator

from domain.approvals.models import ApprovalLevel, Person, Verdict
from domain.business_calendar import BusinessCalendar, business_hours
from domain.credit import CreditStatus

CREDIT_RISK = "credit risk"


class RoleRule(BaseModel):
    sla_business_hours: float = Field(16.0, gt=0)
    reminder_lead_business_hours: float = Field(4.0, ge=0)
    escalation_role: str | None = None


def _default_roles() -> dict[str, RoleRule]:
    return {
        "sales_manager": RoleRule(escalation_role="sales_director"),
        "finance": RoleRule(escalation_role="cfo"),
        "legal": RoleRule(sla_business_hours=24.0, escalation_role="general_counsel"),
    }


class ApprovalPolicy(BaseModel):
    # Orders above this total wait for a sales manager.
    amount_threshold: Decimal = Decimal("5000")
    # ... and above this one for finance too.
    finance_threshold: Decimal = Decimal("20000")
    # Orders that would use more than this share of the customer's remaining credit are a
    # credit risk: they wait for finance.
    credit_usage_threshold: Decimal = Decimal("0.8")
    # The single-level gate's wall-clock deadline, for orders started before the Approval process.
    deadline: timedelta = timedelta(hours=48)

    sales_role: str = "sales_manager"
    finance_role: str = "finance"
    legal_role: str = "legal"
    roles: dict[str, RoleRule] = Field(default_factory=_default_roles)

    # Business hours from the request until the outcome below applies.
    final_deadline_business_hours: float = Field(40.0, gt=0)
    deadline_outcome: Verdict = Verdict.REJECTED
    # Requests without credit risk, not contracts, up to this amount get `low_risk_outcome`.
    low_risk_max_amount: Decimal = Decimal("0")
    low_risk_outcome: Verdict = Verdict.REJECTED

    calendar: BusinessCalendar = Field(default_factory=BusinessCalendar)
    # The people directory: username -> display name and roles.
    people: dict[str, Person] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _roles_are_configured(self) -> ApprovalPolicy:
        if self.finance_threshold < self.amount_threshold:
            raise ValueError(
                f"finance_threshold {self.finance_threshold} must not be below "
                f"amount_threshold {self.amount_threshold}"
            )
        for name in (self.sales_role, self.finance_role, self.legal_role):
            if name not in self.roles:
                raise ValueError(f"role {name!r} has no entry in roles (SLA, reminder, escalation)")
        for name, rule in self.roles.items():
            if rule.reminder_lead_business_hours >= rule.sla_business_hours:
                raise ValueError(
                    f"role {name!r}: reminder_lead_business_hours "
                    f"{rule.reminder_lead_business_hours} must be below its SLA "
                    f"{rule.sla_business_hours}"
                )
        return self

    def escalations(self) -> dict[str, str]:
        return {role: r.escalation_role for role, r in self.roles.items() if r.escalation_role}


class ApprovalRequirement(BaseModel):
    required: bool
    reasons: list[str] = []


class ApprovalPlan(BaseModel):
    """The chain the policy decided for one request; empty levels: no approval needed."""

    levels: list[ApprovalLevel] = Field(default_factory=list)
    reasons: list[str] = Field(default_factory=list)
    final_deadline: timedelta
    deadline_outcome: Verdict
    credit_risk: bool = False

    @property
    def required(self) -> bool:
        return bool(self.levels)


def credit_risk_reason(total: Decimal, credit: CreditStatus, policy: ApprovalPolicy) -> str | None:
    available = credit.available
    if available <= 0 or total > available * policy.credit_usage_threshold:
        return (
            f"total {total} uses more than {policy.credit_usage_threshold:.0%} "
            f"of the available credit {available}"
        )
    return None


def requires_approval(
    total: Decimal, credit: CreditStatus, policy: ApprovalPolicy
) -> ApprovalRequirement:
    """Whether an order waits for a person (the same answer the single-level gate always gave)."""
    reasons: list[str] = []
    if total > policy.amount_threshold:
        reasons.append(f"total {total} is above the approval threshold {policy.amount_threshold}")
    if risk := credit_risk_reason(total, credit, policy):
        reasons.append(risk)
    return ApprovalRequirement(required=bool(reasons), reasons=reasons)


def approval_plan(
    amount: Decimal, policy: ApprovalPolicy, *, credit_risk: bool = False, contract: bool = False
) -> ApprovalPlan:
    """The chain of levels for a request: sales, then finance, then legal, each at most once."""
    needed: dict[str, str] = {}  # role -> why, in chain order
    reasons: list[str] = []
    if amount > policy.amount_threshold:
        reasons.append(f"amount {amount} is above the approval threshold {policy.amount_threshold}")
        needed[policy.sales_role] = reasons[-1]
    if amount > policy.finance_threshold:
        reasons.append(f"amount {amount} is above the finance threshold {policy.finance_threshold}")
        needed[policy.finance_role] = reasons[-1]
    if credit_risk:
        reasons.append(CREDIT_RISK)
        needed.setdefault(policy.finance_role, CREDIT_RISK)
    if contract:
        reasons.append("a contract needs legal review")
        needed[policy.legal_role] = reasons[-1]
    levels = [approval_level(role, reason, policy.roles) for role, reason in needed.items()]
    low_risk = not credit_risk and not contract and amount <= policy.low_risk_max_amount
    return ApprovalPlan(
        levels=levels,
        reasons=reasons,
        final_deadline=business_hours(policy.final_deadline_business_hours),
        deadline_outcome=policy.low_risk_outcome if low_risk else policy.deadline_outcome,
        credit_risk=credit_risk,
    )


def order_approval_plan(
    total: Decimal, credit: CreditStatus, policy: ApprovalPolicy
) -> ApprovalPlan:
    """An order's chain: its total, and a credit-risk flag from the customer's credit."""
    risk = credit_risk_reason(total, credit, policy)
    plan = approval_plan(total, policy, credit_risk=risk is not None)
    if risk is not None:
        plan.reasons = [risk if r == CREDIT_RISK else r for r in plan.reasons]
        for level in plan.levels:
            level.reason = risk if level.reason == CREDIT_RISK else level.reason
    return plan


def approval_level(role: str, reason: str, roles: Mapping[str, RoleRule]) -> ApprovalLevel:
    """One level of a chain for `role`, with its SLA, reminder and escalation from `roles`
    (shared by every process whose policy configures roles this way)."""
    rule = roles[role]
    return ApprovalLevel(
        role=role,
        sla=business_hours(rule.sla_business_hours),
        reminder_lead=business_hours(rule.reminder_lead_business_hours),
        escalation_role=rule.escalation_role,
        reason=reason,
    )
