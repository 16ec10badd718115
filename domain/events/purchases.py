"""Procure-to-pay's business events: their types and the data each one carries.

Source `/continuum/purchases`, subject the requisition id. The data holds business keys
(requisition, supplier, purchase order, the ERP's and the supplier's document numbers), amounts
and lines; who decided or cancelled is an employee's login. No free text a person typed (an
approver's comment, a cancellation's reason): why a purchase stopped is a cause code and, for a
step, the step's name. The match's reasons are the match's own words, not a person's.

A purchase emits `requested` first and exactly one of `completed`, `rejected`, `cancelled`,
`compensated` or `needs_attention` last; `approved` only when it needed an approval; each
`exception_opened` is followed by one `exception_decided` (outcome `withdrawn` when a later
document cleared the exception or the purchase stopped before anyone decided).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from enum import StrEnum

from pydantic import BaseModel

SOURCE = "/continuum/purchases"

REQUESTED = "purchase.requested.v1"
APPROVED = "purchase.approved.v1"
REJECTED = "purchase.rejected.v1"
ORDERED = "purchase.ordered.v1"
CONFIRMED = "purchase.confirmed.v1"
GOODS_RECEIVED = "purchase.goods_received.v1"
INVOICE_RECEIVED = "purchase.invoice_received.v1"
EXCEPTION_OPENED = "purchase.exception_opened.v1"
EXCEPTION_DECIDED = "purchase.exception_decided.v1"
PAID = "purchase.paid.v1"
COMPLETED = "purchase.completed.v1"
CANCELLED = "purchase.cancelled.v1"
COMPENSATED = "purchase.compensated.v1"
NEEDS_ATTENTION = "purchase.needs_attention.v1"


class PurchaseData(BaseModel):
    """What every purchase event carries."""

    requisition_id: str
    supplier_id: str


class RequestedLine(BaseModel):
    line_no: int
    product: str
    category: str
    quantity: Decimal
    unit: str
    expected_price: Decimal


class PurchaseRequested(PurchaseData):
    requested_by: str  # an employee's login
    cost_centre: str
    total: Decimal
    currency: str
    needed_by: date | None
    lines: list[RequestedLine]


class PurchaseApproved(PurchaseData):
    total: Decimal
    currency: str
    decided_by: str | None  # None: the approval's deadline approved it


class RejectionCause(StrEnum):
    INVALID = "invalid"  # the requisition's own data (`fields` names what)
    SUPPLIER_BLOCKED = "supplier_blocked"
    NOT_APPROVED = "not_approved"  # rejected by a person, the deadline, or a failed approval
    STEP_REFUSED = "step_refused"  # a system refused a step before anything was written


class PurchaseRejected(PurchaseData):
    cause: RejectionCause
    fields: list[str] = []  # invalid: the requisition's fields at fault
    failed_step: str | None = None  # step_refused: which step


class PurchaseOrdered(PurchaseData):
    purchase_order_id: str
    total: Decimal
    currency: str


class PurchaseConfirmed(PurchaseData):
    purchase_order_id: str
    supplier_reference: str
    promised_date: date | None


class ReceivedLine(BaseModel):
    line_no: int
    quantity: Decimal
    unit: str | None  # None: the line's purchase unit


class GoodsReceived(PurchaseData):
    purchase_order_id: str
    receipt_id: str  # the warehouse's number
    erp_receipt_id: str
    kind: str  # receipt | return
    lines: list[ReceivedLine]


class InvoiceReceived(PurchaseData):
    purchase_order_id: str
    reference: str  # the supplier's number
    erp_invoice_id: str
    kind: str  # invoice | credit_note
    credits_reference: str | None
    net: Decimal
    tax: Decimal
    gross: Decimal
    currency: str
    due_on: date


class ExceptionOpened(PurchaseData):
    round_no: int
    review_id: str  # the exception review's Approval workflow id
    lines: list[int]  # the lines in exception
    reasons: list[str]  # the match's reasons, per line and for whole documents
    variance: Decimal
    currency: str
    reviewer_role: str


class ExceptionOutcome(StrEnum):
    ACCEPTED = "accepted"  # every line in exception accepted as invoiced
    PARTLY_ACCEPTED = "partly_accepted"
    REJECTED = "rejected"  # a credit note is awaited for the rejected lines
    WITHDRAWN = "withdrawn"  # nobody decided: a later document cleared it, or the purchase stopped


class ExceptionDecided(PurchaseData):
    round_no: int
    outcome: ExceptionOutcome
    accepted_lines: list[int]
    rejected_lines: list[int]
    decided_by: str | None  # an employee's login; None: the deadline, a failure, or withdrawn
    variance: Decimal
    currency: str


class PurchasePaid(PurchaseData):
    purchase_order_id: str
    payment_id: str
    invoice_reference: str
    lines: list[int]
    amount: Decimal
    currency: str


class PurchaseCompleted(PurchaseData):
    purchase_order_id: str | None
    total: Decimal  # as requested
    paid: Decimal  # the payments' sum
    currency: str
    payment_ids: list[str]
    invoice_references: list[str]


class PurchaseUndone(PurchaseData):
    """A purchase that stopped after writes: what was undone (the undo steps, newest first)."""

    purchase_order_id: str | None
    undone: list[str] = []


class PurchaseCancelled(PurchaseUndone):
    cancelled_by: str  # an employee's login, or `temporal` (cancelled in Temporal itself)


class PurchaseCompensated(PurchaseUndone):
    failed_step: str | None = None  # the step that failed for good


class AttentionCause(StrEnum):
    PAID_BEFORE_STOP = "paid_before_stop"  # stopped after a payment: nothing undone
    UNDO_FAILED = "undo_failed"  # an undo step was refused


class PurchaseNeedsAttention(PurchaseUndone):
    cause: AttentionCause
    failed_step: str | None = None
    not_undone: list[str] = []  # undo steps that were refused: a person must finish them
    payment_ids: list[str] = []


TYPES: dict[str, type[BaseModel]] = {
    REQUESTED: PurchaseRequested,
    APPROVED: PurchaseApproved,
    REJECTED: PurchaseRejected,
    ORDERED: PurchaseOrdered,
    CONFIRMED: PurchaseConfirmed,
    GOODS_RECEIVED: GoodsReceived,
    INVOICE_RECEIVED: InvoiceReceived,
    EXCEPTION_OPENED: ExceptionOpened,
    EXCEPTION_DECIDED: ExceptionDecided,
    PAID: PurchasePaid,
    COMPLETED: PurchaseCompleted,
    CANCELLED: PurchaseCancelled,
    COMPENSATED: PurchaseCompensated,
    NEEDS_ATTENTION: PurchaseNeedsAttention,
}
