"""The drill's invariants: what must hold after every run, and how a breach is reported.

The vocabulary the drill's judges share (`domain.drill` for orders, the sync and detection,
`domain.drill_purchases` for procure-to-pay); pure names and models.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, Field

SUCCESS_TARGET = 0.98


class Invariant(StrEnum):
    KNOWN = "every order is known to Temporal"
    NONE_STUCK = "every order is finished or waiting on a person"
    NO_DUPLICATES = "no duplicate ERP record or CRM deal"
    COMPLETED_IN_BOTH = "every completed order is in the ERP and the CRM"
    INVALID_WROTE_NOTHING = "invalid orders wrote nothing"
    SUCCESS_RATE = f"at least {SUCCESS_TARGET:.0%} of valid orders end as expected"
    FAULTS_INJECTED = "every fault of the timeline was injected"
    SYNC_COMPLETED = "every ERP→CRM sync pass completed"
    SYNC = "the CRM holds one deal per ERP sales order, one contact (company) per customer"
    SYNC_AGREES = "every deal's stage and amount agree with its ERP sales order"
    SYNC_QUARANTINE = "the sync quarantined nothing (the drill's records are all valid)"
    PURCHASES_KNOWN = "every purchase is known to Temporal"
    PURCHASES_SETTLED = "every purchase is finished or waiting on a person"
    PAID_WITHIN_RECEIVED = "nothing paid beyond received ± tolerance"
    NO_INVOICE_PAID_TWICE = "no invoice posted or paid twice"
    EXCEPTIONS_HANDLED = "every exception is decided or waiting on a person"
    PURCHASES_AS_EXPECTED = f"at least {SUCCESS_TARGET:.0%} of purchases end as expected"
    DETECTED = "every stop of business raised its alert within 15 min and it resolved after"
    NO_FALSE_ALERT = "no alert fired without a stop of business"


# Judged only when purchases ran in the drill (`domain.drill_purchases.check_purchases`).
PURCHASE_INVARIANTS = frozenset(
    {
        Invariant.PURCHASES_KNOWN,
        Invariant.PURCHASES_SETTLED,
        Invariant.PAID_WITHIN_RECEIVED,
        Invariant.NO_INVOICE_PAID_TWICE,
        Invariant.EXCEPTIONS_HANDLED,
        Invariant.PURCHASES_AS_EXPECTED,
    }
)


class Violation(BaseModel):
    invariant: Invariant
    detail: str
    order_id: str | None = None  # the order (or requisition) it concerns


class InvariantResult(BaseModel):
    invariant: Invariant
    held: bool
    violations: int
    examples: list[str] = Field(default_factory=list)
