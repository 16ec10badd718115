"""Procure-to-pay in the daily report: which purchases a day touched, and the figures computed
from what each purchase recorded itself (its result or `status` query: documents, decisions,
payments and the timed events) and from Temporal's visibility (start, close, ProcessStatus).

Definitions (each figure's source is in `SOURCES`, which the report prints):
- first-pass match rate: of the supplier invoices taken that day, the share none of whose lines
  was put to an exception review opened after the invoice arrived (and that no document reason
  of such a review names);
- exceptions by reason: the exception reviews opened that day, each counted once under every
  kind of reason it was opened for (`reason_kind`);
- exception age: reviews still waiting on a person at the report's moment, aged from their
  opening; and for the reviews decided that day, the time a person took;
- cycle time: purchases that completed that day, from the requisition's arrival (the workflow's
  start) to the last payment to the supplier;
- days payable outstanding: for the payments made that day, the amount-weighted days from the
  invoice's date (issued_on) to the payment, per currency. A one-day window holds too few
  payables for the balance form (payables ÷ purchases × days); this is the paid-invoice form.
Pure: the activity gathers the records, this module counts.
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import UTC, datetime, time
from decimal import Decimal
from enum import StrEnum

from pydantic import BaseModel, Field

from domain.erp import PurchaseChange
from domain.percentiles import percentile
from domain.purchasing.contract import WORKFLOW_NAME
from domain.purchasing.models import (
    DocumentKind,
    PurchaseEvent,
    PurchaseResult,
    PurchaseStatus,
)

# Purchases read per report; past it the section says it is partial.
MAX_PURCHASES_READ = 2000
# Purchase orders read from the ERP's feed per report; past it the ledger says it is partial.
MAX_LEDGER_ORDERS = 5000
# An open exception's age buckets (upper bounds, in days) for the chart.
AGE_BUCKETS: tuple[tuple[str, float], ...] = (
    ("< 1 day", 1),
    ("1–3 days", 3),
    ("3–7 days", 7),
    ("> 7 days", float("inf")),
)

SOURCES: dict[str, str] = {
    "started, closed by status, open by status": (
        "Temporal visibility: ProcureToPay executions (StartTime, CloseTime, ExecutionStatus) "
        "and their ProcessStatus search attribute"
    ),
    "first-pass match rate": (
        "each purchase's own record (workflow result, or its `status` query while it runs): "
        "invoices taken, exception reviews opened (events) and the lines they named"
    ),
    "exceptions by reason": (
        "each purchase's record: the exception review events and the three-way match's reasons"
    ),
    "exception age": (
        "each purchase's record: review opened (event), decided (decisions) or withdrawn (event)"
    ),
    "cycle time requisition → payment": (
        "Temporal visibility (the purchase's StartTime) and the purchase's record (its payments' "
        "events)"
    ),
    "days payable outstanding": (
        "each purchase's record: payments (amount, event time) against the invoice's issued_on"
    ),
    "ERP purchase ledger": (
        "the ERP's purchase change feed (received, invoiced, paid per order), as it stands now"
    ),
}


def touched_query(start_literal: str, end_literal: str) -> str:
    """Purchases that ran at some moment of [start, end): started before its end, and still
    running or closed after its start."""
    return (
        f"WorkflowType = '{WORKFLOW_NAME}' AND StartTime < '{end_literal}'"
        f" AND (ExecutionStatus = 'Running' OR CloseTime >= '{start_literal}')"
    )


def started_query(start_literal: str, end_literal: str) -> str:
    return (
        f"WorkflowType = '{WORKFLOW_NAME}'"
        f" AND StartTime >= '{start_literal}' AND StartTime < '{end_literal}'"
    )


# --- what the activity reads --------------------------------------------------------------------


class PurchaseRecord(BaseModel):
    """One ProcureToPay execution: visibility's row and, when it could be read, its own record."""

    workflow_id: str
    execution_status: str  # Temporal's: RUNNING, COMPLETED, FAILED, TERMINATED, ...
    process_status: str | None = None  # the ProcessStatus search attribute
    started_at: datetime
    closed_at: datetime | None = None
    result: PurchaseResult | None = None  # None: neither its result nor its query answered


class PurchaseRuns(BaseModel):
    started: int  # executions started in the window
    records: list[PurchaseRecord] = Field(default_factory=list)
    note: str = ""


class LedgerLine(BaseModel):
    """The ERP's purchase orders, per currency: what was received, invoiced and paid."""

    currency: str
    orders: int
    total: Decimal  # ordered, net
    received: Decimal  # net value received at order prices
    invoiced: Decimal  # net, less credit notes
    paid: Decimal  # gross (payments carry the tax)

    @property
    def received_not_invoiced(self) -> Decimal:
        return self.received - self.invoiced


class PurchaseLedger(BaseModel):
    """The ERP's purchase orders as they stand when the report runs (its purchase change feed,
    read from the start, at most MAX_LEDGER_ORDERS): the purchasing position, not the day's."""

    available: bool = True
    note: str = ""
    lines: list[LedgerLine] = Field(default_factory=list)


# --- reasons ------------------------------------------------------------------------------------


class ReasonKind(StrEnum):
    PRICE = "price"
    QUANTITY = "quantity"
    AMOUNT_CAP = "amount_cap"
    TAX = "tax"
    CURRENCY = "currency"
    CREDIT = "credit_or_return"
    UNIT = "unit"
    DOCUMENT = "wrong_line_or_requisition"
    OTHER = "other"


# The three-way match's wording (domain.purchasing.matching); tests/domain/test_purchase_figures
# runs the match and checks that none of its reasons falls to OTHER.
_KINDS: tuple[tuple[re.Pattern[str], ReasonKind], ...] = (
    (re.compile(r"has no conversion to"), ReasonKind.UNIT),
    (re.compile(r"is not on the requisition|is for requisition"), ReasonKind.DOCUMENT),
    (re.compile(r"amount variance .* above the cap"), ReasonKind.AMOUNT_CAP),
    (re.compile(r"invoiced at .* but ordered at"), ReasonKind.PRICE),
    (re.compile(r"invoiced \S+ but (received|ordered)"), ReasonKind.QUANTITY),
    (re.compile(r": tax .* but its lines' tax is"), ReasonKind.TAX),
    (re.compile(r" is in [A-Z]{3}, the order in "), ReasonKind.CURRENCY),
    (
        re.compile(
            r"credited .* more than|credit notes take back more|returned .* more than"
            r"|which has not been received|nothing left invoiced in quantity"
        ),
        ReasonKind.CREDIT,
    ),
)


def reason_kind(reason: str) -> ReasonKind:
    for pattern, kind in _KINDS:
        if pattern.search(reason):
            return kind
    return ReasonKind.OTHER


# --- one purchase's exception reviews, read back from its events --------------------------------

_OPENED = re.compile(r"^exception review (\d+)$")
_WITHDRAWN = re.compile(r"^exception review (\d+) withdrawn$")
_LINE = re.compile(r"^line (\d+): (.*)$")
_DOCUMENT = re.compile(r"^(?:invoice|credit note) (\S+)")


DECIDED = ("accepted", "partly accepted", "rejected")


class ExceptionReview(BaseModel):
    """One exception review of a purchase, as the report lists it."""

    requisition_id: str
    round_no: int
    opened_at: datetime
    lines: list[int]
    reasons: list[str]  # as the match wrote them
    kinds: list[ReasonKind]
    closed_at: datetime | None = None  # decided or withdrawn; None: still waiting on a person
    outcome: str = "open"  # accepted, partly accepted, rejected, withdrawn, ended, open
    decided_by: str | None = None

    def age_seconds(self, now: datetime) -> float:
        return ((self.closed_at or now) - self.opened_at).total_seconds()


def _opening(event: PurchaseEvent) -> tuple[list[int], list[str]]:
    """The lines and reasons an opening event names: `line 1: r; r | doc reason → role`."""
    detail = event.detail.rsplit(" → ", 1)[0]
    lines: list[int] = []
    reasons: list[str] = []
    for part in filter(None, detail.split(" | ")):
        if found := _LINE.match(part):
            lines.append(int(found.group(1)))
            reasons += [r for r in found.group(2).split("; ") if r]
        else:
            reasons.append(part)
    return lines, reasons


def exception_reviews(result: PurchaseResult, closed_at: datetime | None) -> list[ExceptionReview]:
    """The purchase's reviews, opened, decided or withdrawn; one still open when the purchase
    ended (a cancellation withdraws it) closes with the purchase."""
    reviews: dict[int, ExceptionReview] = {}
    for event in result.events:
        if found := _OPENED.match(event.what):
            lines, reasons = _opening(event)
            reviews[int(found.group(1))] = ExceptionReview(
                requisition_id=result.requisition_id,
                round_no=int(found.group(1)),
                opened_at=event.at,
                lines=lines,
                reasons=reasons,
                kinds=sorted({reason_kind(r) for r in reasons}),
            )
        elif (found := _WITHDRAWN.match(event.what)) and (
            review := reviews.get(int(found.group(1)))
        ):
            review.closed_at, review.outcome = event.at, "withdrawn"
    for decision in result.decisions:
        if review := reviews.get(decision.round_no):
            review.closed_at, review.decided_by = decision.at, decision.decided_by
            if not decision.accepted_lines:
                review.outcome = "rejected"
            elif decision.rejected_lines:
                review.outcome = "partly accepted"
            else:
                review.outcome = "accepted"
    for review in reviews.values():
        if review.closed_at is None and closed_at is not None:
            review.closed_at, review.outcome = closed_at, "ended"
    return sorted(reviews.values(), key=lambda r: r.round_no)


# --- invoices and payments ----------------------------------------------------------------------


def _taken_at(result: PurchaseResult, what: str) -> datetime | None:
    return next((e.at for e in result.events if e.what == what), None)


class InvoiceMatch(BaseModel):
    requisition_id: str
    reference: str
    taken_at: datetime
    first_pass: bool


def invoice_matches(result: PurchaseResult, reviews: list[ExceptionReview]) -> list[InvoiceMatch]:
    """Each invoice taken, and whether it matched on the first pass: no review opened after it
    arrived named one of its lines, or named the invoice in a document reason."""
    out = []
    for invoice in result.invoices:
        if invoice.kind is not DocumentKind.INVOICE:
            continue
        taken = _taken_at(result, f"{invoice.kind.value} {invoice.reference}")
        if taken is None:
            continue
        lines = {line.line_no for line in invoice.lines}
        flagged = any(
            review.opened_at >= taken
            and (
                lines & set(review.lines)
                or any(
                    (m := _DOCUMENT.match(r)) and m.group(1).rstrip(":") == invoice.reference
                    for r in review.reasons
                )
            )
            for review in reviews
        )
        out.append(
            InvoiceMatch(
                requisition_id=result.requisition_id,
                reference=invoice.reference,
                taken_at=taken,
                first_pass=not flagged,
            )
        )
    return out


class PaymentMade(BaseModel):
    requisition_id: str
    invoice_reference: str
    amount: Decimal
    currency: str
    paid_at: datetime
    invoice_issued_on: datetime | None  # UTC midnight of the invoice's date

    @property
    def days_payable(self) -> float | None:
        if self.invoice_issued_on is None:
            return None
        return (self.paid_at - self.invoice_issued_on).total_seconds() / 86400


def payments_made(result: PurchaseResult) -> list[PaymentMade]:
    """The purchase's payments with their moments: the n-th `pay_supplier` event records the
    n-th payment (the purchase appends one as its write returns)."""
    times = [e.at for e in result.events if e.what == "pay_supplier"]
    issued = {
        i.reference: datetime.combine(i.issued_on, time(0), UTC)
        for i in result.invoices
        if i.kind is DocumentKind.INVOICE
    }
    return [
        PaymentMade(
            requisition_id=result.requisition_id,
            invoice_reference=payment.invoice_reference,
            amount=payment.amount,
            currency=payment.currency,
            paid_at=at,
            invoice_issued_on=issued.get(payment.invoice_reference),
        )
        for payment, at in zip(result.payments, times, strict=False)
    ]


# --- the section --------------------------------------------------------------------------------


class PurchaseCycle(BaseModel):
    requisition_id: str
    started_at: datetime
    paid_at: datetime  # the last payment (the close, when nothing was paid)

    @property
    def seconds(self) -> float:
        return (self.paid_at - self.started_at).total_seconds()


class PurchaseFigures(BaseModel):
    available: bool = True
    note: str = ""
    started: int = 0
    closed: int = 0
    closed_by_status: dict[str, int] = Field(default_factory=dict)
    open_by_status: dict[str, int] = Field(default_factory=dict)  # now
    invoices: int = 0  # taken in the window
    first_pass: int = 0
    first_pass_rate: float | None = None
    exceptions_opened: int = 0
    exceptions_by_reason: dict[str, int] = Field(default_factory=dict)
    exceptions_open: int = 0  # now
    open_age_p50_seconds: float | None = None
    open_age_max_seconds: float | None = None
    open_age_buckets: dict[str, int] = Field(default_factory=dict)
    exceptions_decided: int = 0  # in the window
    decide_p50_seconds: float | None = None
    decide_p95_seconds: float | None = None
    completed: int = 0
    cycle_p50_seconds: float | None = None
    cycle_p95_seconds: float | None = None
    payments: int = 0
    paid: dict[str, Decimal] = Field(default_factory=dict)  # per currency, gross
    dpo_days: dict[str, float] = Field(default_factory=dict)  # per currency
    # The lists behind the figures (purchase_cycles.csv, purchase_exceptions.csv, the charts):
    # the reviews opened or decided in the window, and those still open.
    cycles: list[PurchaseCycle] = Field(default_factory=list)
    exceptions: list[ExceptionReview] = Field(default_factory=list)
    ledger: PurchaseLedger | None = None
    sources: dict[str, str] = Field(default_factory=lambda: dict(SOURCES))


def _within(moment: datetime | None, start: datetime, end: datetime) -> bool:
    return moment is not None and start <= moment < end


def _bucket(seconds: float) -> str:
    days = seconds / 86400
    return next(label for label, bound in AGE_BUCKETS if days < bound)


def purchase_figures(
    runs: PurchaseRuns,
    start: datetime,
    end: datetime,
    now: datetime,
) -> PurchaseFigures:
    closed_by: Counter[str] = Counter()
    open_by: Counter[str] = Counter()
    invoices: list[InvoiceMatch] = []
    reviews: list[ExceptionReview] = []
    payments: list[PaymentMade] = []
    cycles: list[PurchaseCycle] = []
    unread = 0
    for run in runs.records:
        status = run.process_status or "unknown"
        if run.closed_at is None:
            open_by[status] += 1
        elif _within(run.closed_at, start, end):
            closed_by[status if run.execution_status == "COMPLETED" else "failed"] += 1
        result = run.result
        if result is None:
            unread += 1
            continue
        mine = exception_reviews(result, run.closed_at)
        reviews += mine
        invoices += invoice_matches(result, mine)
        paid = payments_made(result)
        payments += paid
        if (
            result.status is PurchaseStatus.COMPLETED
            and run.closed_at is not None
            and _within(run.closed_at, start, end)
        ):
            last = max((p.paid_at for p in paid), default=run.closed_at)
            cycles.append(
                PurchaseCycle(
                    requisition_id=result.requisition_id, started_at=run.started_at, paid_at=last
                )
            )
    day_invoices = [i for i in invoices if _within(i.taken_at, start, end)]
    opened = [r for r in reviews if _within(r.opened_at, start, end)]
    waiting = [r for r in reviews if r.closed_at is None and r.opened_at < now]
    decided = [r for r in reviews if r.outcome in DECIDED and _within(r.closed_at, start, end)]
    day_payments = [p for p in payments if _within(p.paid_at, start, end)]
    shown = {id(r) for r in opened + decided}
    ages = [r.age_seconds(now) for r in waiting]
    decide = [r.age_seconds(now) for r in decided]
    cycle_seconds = [c.seconds for c in cycles]
    first = sum(1 for i in day_invoices if i.first_pass)
    by_reason: Counter[str] = Counter(k.value for r in opened for k in r.kinds)
    buckets = Counter(_bucket(a) for a in ages)
    notes = [runs.note] if runs.note else []
    if unread:
        notes.append(
            f"{unread} purchase(s) did not answer with their record (purchase worker down?)"
        )
    return PurchaseFigures(
        note="; ".join(notes),
        started=runs.started,
        closed=sum(closed_by.values()),
        closed_by_status=dict(sorted(closed_by.items())),
        open_by_status=dict(sorted(open_by.items())),
        invoices=len(day_invoices),
        first_pass=first,
        first_pass_rate=first / len(day_invoices) if day_invoices else None,
        exceptions_opened=len(opened),
        exceptions_by_reason=dict(sorted(by_reason.items())),
        exceptions_open=len(waiting),
        open_age_p50_seconds=percentile(ages, 50),
        open_age_max_seconds=max(ages, default=None),
        open_age_buckets={label: buckets[label] for label, _ in AGE_BUCKETS} if ages else {},
        exceptions_decided=len(decided),
        decide_p50_seconds=percentile(decide, 50),
        decide_p95_seconds=percentile(decide, 95),
        completed=len(cycles),
        cycle_p50_seconds=percentile(cycle_seconds, 50),
        cycle_p95_seconds=percentile(cycle_seconds, 95),
        payments=len(day_payments),
        paid=_per_currency_sum(day_payments),
        dpo_days=_dpo(day_payments),
        cycles=sorted(cycles, key=lambda c: (c.paid_at, c.requisition_id)),
        exceptions=sorted(
            (r for r in reviews if id(r) in shown or r.closed_at is None),
            key=lambda r: (r.opened_at, r.requisition_id, r.round_no),
        ),
    )


def _per_currency_sum(payments: list[PaymentMade]) -> dict[str, Decimal]:
    out: dict[str, Decimal] = {}
    for p in payments:
        out[p.currency] = out.get(p.currency, Decimal(0)) + p.amount
    return dict(sorted(out.items()))


def _dpo(payments: list[PaymentMade]) -> dict[str, float]:
    """Per currency: Σ(amount × days from invoice date to payment) ÷ Σ amount."""
    weighted: dict[str, float] = {}
    amounts: dict[str, float] = {}
    for p in payments:
        days = p.days_payable
        if days is None or p.amount <= 0:
            continue
        weighted[p.currency] = weighted.get(p.currency, 0.0) + float(p.amount) * days
        amounts[p.currency] = amounts.get(p.currency, 0.0) + float(p.amount)
    return {c: round(weighted[c] / amounts[c], 2) for c in sorted(weighted)}


# Orders in these states hold nothing payable; the ledger leaves them out.
CANCELLED_ORDER_STATES = frozenset({"cancelled", "cancel"})


def ledger_lines(changes: list[PurchaseChange]) -> list[LedgerLine]:
    """The ERP's purchase orders (not cancelled), one line per currency."""
    by: dict[str, LedgerLine] = {}
    for change in changes:
        if change.status in CANCELLED_ORDER_STATES:
            continue
        zero = Decimal(0)
        line = by.setdefault(
            change.currency,
            LedgerLine(
                currency=change.currency,
                orders=0,
                total=zero,
                received=zero,
                invoiced=zero,
                paid=zero,
            ),
        )
        line.orders += 1
        line.total += change.total
        line.received += change.received
        line.invoiced += change.invoiced
        line.paid += change.paid
    return [by[c] for c in sorted(by)]
