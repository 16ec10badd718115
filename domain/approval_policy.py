"""When an order needs a person's approval, and why. Thresholds come from configuration."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from pydantic import BaseModel

from domain.credit import CreditStatus


class ApprovalPolicy(BaseModel):
    # Orders above this total wait for a sales manager.
    amount_threshold: Decimal = Decimal("5000")
    # Orders that would use more than this share of the customer's remaining credit wait too.
    credit_usage_threshold: Decimal = Decimal("0.8")
    # How long a person has to decide before the order is rejected automatically.
    deadline: timedelta = timedelta(hours=48)


class ApprovalRequirement(BaseModel):
    required: bool
    reasons: list[str] = []


def requires_approval(
    total: Decimal, credit: CreditStatus, policy: ApprovalPolicy
) -> ApprovalRequirement:
    reasons: list[str] = []
    if total > policy.amount_threshold:
        reasons.append(f"total {total} is above the approval threshold {policy.amount_threshold}")
    available = credit.available
    if available <= 0 or total > available * policy.credit_usage_threshold:
        reasons.append(
            f"total {total} uses more than {policy.credit_usage_threshold:.0%} "
            f"of the available credit {available}"
        )
    return ApprovalRequirement(required=bool(reasons), reasons=reasons)
