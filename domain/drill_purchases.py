"""Procure-to-pay in the drill: what each purchase was meant to do, what Temporal and the ERP
hold of it afterwards, and the invariants over both.

The drill plays supplier, warehouse and buyer for a few purchases alongside the orders and
through the same faults (`starters.drill.purchases`). Afterwards it reads each purchase's result
from Temporal and its documents and payments from the ERP's own database, where a duplicate
cannot hide behind an idempotent endpoint. These functions judge them without I/O:

- nothing paid beyond received ± tolerance: at the moment of each payment (the ERP's own
  timestamps), what the purchase's payments cover on a line is no more than the goods received
  by then, and no dearer than the order price, each within the purchase's tolerance for the
  line; a line a person accepted is theirs to answer for and is counted, not judged;
- no invoice posted or paid twice: one posting per supplier reference (however retyped), each
  invoice line in one payment, no invoice paid beyond its printed gross;
- every exception decided or waiting on a person: a line in exception is covered by a decision,
  or the purchase holds a review that waits on a named person or role;
- every purchase finished or waiting on a person, and (as for orders) at least SUCCESS_TARGET
  of them ending as their kind expects.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from pydantic import BaseModel, Field

from domain.drill_invariants import SUCCESS_TARGET, Invariant, Violation
from domain.purchasing.matching import plain, round_money
from domain.purchasing.models import (
    DocumentKind,
    GoodsReceipt,
    PurchaseResult,
    PurchaseStatus,
    ReceiptKind,
    Requisition,
    RequisitionLine,
    SupplierInvoice,
)
from domain.purchasing.policy import TolerancePolicy, tolerance_for
from domain.purchasing.rules import in_purchase_unit, normalise_reference
from domain.purchasing.settlement import undecided_exceptions

_HUNDRED = Decimal(100)


class PurchaseKind(StrEnum):
    """What the drill meant a purchase to do; each kind has one expected outcome."""

    MATCHED = "matched"  # goods and invoice as ordered: paid
    TOLERANCE = "tolerance"  # the price a little over, within the tolerance: paid
    INVOICE_FIRST = "invoice_first"  # the invoice before the goods: paid once they are in
    DUPLICATE = "duplicate"  # the same invoice again, its number retyped: refused, paid once
    EXCEPTION = "exception"  # the price over the tolerance: waits for a buyer
    DECIDED = "decided"  # the price over the tolerance, a buyer accepts it: paid


EXPECTED: dict[PurchaseKind, PurchaseStatus] = {
    kind: PurchaseStatus.IN_EXCEPTION
    if kind is PurchaseKind.EXCEPTION
    else PurchaseStatus.COMPLETED
    for kind in PurchaseKind
}
# Where a running purchase waits on a person (a review or the requisition's approval).
WAITING = frozenset({PurchaseStatus.IN_EXCEPTION, PurchaseStatus.AWAITING_APPROVAL})


class RecordedReceipt(BaseModel):
    receipt: GoodsReceipt
    at: datetime  # when the ERP recorded it


class PostedInvoice(BaseModel):
    erp_invoice_id: str
    invoice: SupplierInvoice
    at: datetime  # when the ERP posted it


class PaymentRecord(BaseModel):
    payment_id: str
    erp_invoice_id: str
    lines: list[int]
    amount: Decimal  # gross
    at: datetime  # when the ERP paid it


class PurchaseFacts(BaseModel):
    requisition: Requisition
    kind: PurchaseKind
    tolerances: TolerancePolicy  # the policy the purchase was started with
    # From Temporal: its status (None: Temporal does not know it), its result or state.
    status: PurchaseStatus | None = None
    running: bool = False
    result: PurchaseResult | None = None
    # Whom the pending review (or approval) waits on: a person, else a role; None: nobody.
    waiting_on: str | None = None
    # From the ERP's own database.
    purchase_orders: int = 0
    receipts: list[RecordedReceipt] = Field(default_factory=list)
    invoices: list[PostedInvoice] = Field(default_factory=list)
    payments: list[PaymentRecord] = Field(default_factory=list)

    @property
    def requisition_id(self) -> str:
        return self.requisition.requisition_id

    @property
    def waiting_on_person(self) -> bool:
        return self.running and self.status in WAITING and self.waiting_on is not None

    @property
    def settled(self) -> bool:
        """Nothing more happens without a person: finished, or waiting on one."""
        return self.status is not None and (not self.running or self.waiting_on_person)

    @property
    def accepted_by_person(self) -> set[int]:
        """Lines a person (not a deadline) accepted as invoiced."""
        decisions = self.result.decisions if self.result else []
        return {n for d in decisions if d.decided_by for n in d.accepted_lines}

    @property
    def paid(self) -> Decimal:
        return sum((p.amount for p in self.payments), Decimal(0))


class PurchaseCheck(BaseModel):
    """Procure-to-pay in the drill: its purchases, their money, and what broke."""

    purchases: int
    by_kind: dict[str, int]
    by_status: dict[str, int]
    as_expected: int
    success_rate: float
    erp_records: dict[str, int]  # purchase orders, receipts, invoices, payments in the ERP
    payments: int
    paid: Decimal  # gross, every payment
    refused: int  # documents the purchases refused (the duplicates)
    exceptions: int  # purchases that had a line in exception
    decided: int  # of them, decided by a person
    waiting: int  # of them, waiting on a person
    # Lines paid beyond received ± tolerance because a person accepted them (not violations).
    accepted_beyond_tolerance: int = 0
    violations: list[Violation] = Field(default_factory=list)

    @property
    def detail(self) -> str:
        return (
            f"{self.purchases} purchases, {self.payments} payments ({self.paid:,.2f} paid), "
            f"{self.refused} duplicate documents refused, {self.exceptions} with an exception: "
            f"{self.decided} decided by a person, {self.waiting} waiting on one"
        )


def received_by(
    line: RequisitionLine, receipts: Sequence[RecordedReceipt], moment: datetime
) -> Decimal:
    """The line's goods recorded at or before `moment`, net of returns, in the purchase unit."""
    total = Decimal(0)
    for recorded in receipts:
        if recorded.at > moment:
            continue
        sign = -1 if recorded.receipt.kind is ReceiptKind.RETURN else 1
        for rl in recorded.receipt.lines:
            if rl.line_no == line.line_no:
                total += sign * (in_purchase_unit(line, rl.quantity, rl.unit) or Decimal(0))
    return total


def paid_beyond_received(f: PurchaseFacts) -> tuple[list[str], int]:
    """What each payment covers, line by line, against the goods received when it was made and
    the line's tolerance. Credit notes are not netted in: a purchase with one is judged on the
    strict side (the drill sends none). Returns the breaches, and how many lines a person's
    acceptance took beyond the tolerance (counted, not breaches)."""
    lines = {line.line_no: line for line in f.requisition.lines}
    invoices = {p.erp_invoice_id: p.invoice for p in f.invoices}
    accepted = f.accepted_by_person
    quantity: defaultdict[int, Decimal] = defaultdict(Decimal)
    net: defaultdict[int, Decimal] = defaultdict(Decimal)
    problems: list[str] = []
    beyond_by_person: set[int] = set()
    for pay in sorted(f.payments, key=lambda p: p.at):
        invoice = invoices.get(pay.erp_invoice_id)
        if invoice is None:
            problems.append(f"payment {pay.payment_id} pays {pay.erp_invoice_id}, not its invoice")
            continue
        for il in invoice.lines:
            n = il.line_no
            if n not in pay.lines:
                continue
            line = lines.get(n)
            qty = None if line is None else in_purchase_unit(line, il.quantity, il.unit)
            if line is None or qty is None:
                problems.append(f"payment {pay.payment_id} pays line {n}, which was not ordered")
                continue
            quantity[n] += qty
            net[n] += il.quantity * il.unit_price
            received = received_by(line, f.receipts, pay.at)
            breach = _beyond(line, quantity[n], net[n], received, f, pay.payment_id)
            if breach and n in accepted:
                beyond_by_person.add(n)
            elif breach:
                problems.append(f"line {n}: {breach}")
    return problems, len(beyond_by_person)


def _beyond(
    line: RequisitionLine,
    quantity: Decimal,
    net: Decimal,
    received: Decimal,
    f: PurchaseFacts,
    payment_id: str,
) -> str:
    """Why `quantity` paid for `net` on the line is beyond the `received` goods ± the line's
    tolerance (as the match applies it: the quantity against what was received, the price per
    unit paid against the order price, the amount variance against the cap); "" when it is not."""
    tol = tolerance_for(f.tolerances, f.requisition.supplier_id, line.category)
    currency, unit, price = f.requisition.currency, line.unit, line.expected_price

    def money(amount: Decimal) -> str:
        return f"{round_money(amount, currency)} {currency}"

    if quantity > received * (1 + tol.quantity_pct / _HUNDRED):
        return (
            f"{plain(quantity)} {unit} paid by {payment_id}, {plain(received)} received by then "
            f"(tolerance {plain(tol.quantity_pct)} %)"
        )
    dearest = price + max(price * tol.price_pct / _HUNDRED, tol.price_abs)
    if net > quantity * dearest:
        return (
            f"{money(net)} net paid by {payment_id} for {plain(quantity)} {unit}, at most "
            f"{money(quantity * dearest)} at the order price {plain(price)} within tolerance"
        )
    if tol.amount_cap is not None and net - received * price > tol.amount_cap:
        return (
            f"{money(net)} net paid by {payment_id}, {money(net - received * price)} over the "
            f"{plain(received)} {unit} received by then at the order price (cap "
            f"{plain(tol.amount_cap)})"
        )
    return ""


def paid_twice(f: PurchaseFacts) -> list[str]:
    """Documents posted more than once, invoice lines paid more than once, invoices paid
    beyond their printed gross, all by the supplier's reference (normalised as the duplicate
    check does), read from the ERP's rows."""
    problems: list[str] = []
    posted: defaultdict[tuple[DocumentKind, str], list[PostedInvoice]] = defaultdict(list)
    for p in f.invoices:
        posted[(p.invoice.kind, normalise_reference(p.invoice.reference))].append(p)
    for (kind, _), copies in posted.items():
        if len(copies) > 1:
            ids = ", ".join(c.erp_invoice_id for c in copies)
            problems.append(
                f"{kind.value} {copies[0].invoice.reference} posted {len(copies)} times ({ids})"
            )
    by_id = {p.erp_invoice_id: p.invoice for p in f.invoices}
    lines_paid: Counter[tuple[str, int]] = Counter()
    amounts: defaultdict[str, Decimal] = defaultdict(Decimal)
    for pay in f.payments:
        invoice = by_id.get(pay.erp_invoice_id)
        key = normalise_reference(invoice.reference) if invoice else pay.erp_invoice_id
        lines_paid.update((key, n) for n in pay.lines)
        amounts[key] += pay.amount
    for (key, n), times in sorted(lines_paid.items()):
        if times > 1:
            problems.append(f"invoice {key} line {n} paid {times} times")
    for (kind, reference), copies in posted.items():
        invoice = copies[0].invoice
        gross = invoice.net + invoice.tax
        if kind is DocumentKind.INVOICE and amounts.get(reference, Decimal(0)) > gross:
            problems.append(
                f"invoice {invoice.reference} paid {amounts[reference]} {invoice.currency}, "
                f"more than its gross {gross}"
            )
    return problems


def unhandled_exceptions(f: PurchaseFacts) -> list[int]:
    """Lines in exception that no decision covers while nobody is asked to decide them."""
    result = f.result
    if result is None or result.match is None:
        return []
    undecided = undecided_exceptions(result.match, result.decisions)
    if undecided and f.waiting_on_person and result.pending_review:
        return []
    return undecided


def unexpected(f: PurchaseFacts) -> str | None:
    """Why the purchase did not end as its kind expects; None when it did."""
    want = EXPECTED[f.kind]
    if f.status is not want or not f.settled:
        running = "running" if f.running else "closed"
        return f"{f.status.value if f.status else 'unknown'} ({running}), expected {want.value}"
    result = f.result
    refused = len(result.refused) if result else 0
    if f.kind is PurchaseKind.EXCEPTION:
        if f.payments:
            return "paid while its exception waits on a person"
        return None
    if not f.payments:
        return "completed without a payment"
    if f.kind is PurchaseKind.DUPLICATE and not refused:
        return "its duplicate invoice was not refused"
    if f.kind is PurchaseKind.DECIDED and not f.accepted_by_person:
        return "paid without a person's acceptance"
    return None


def check_purchases(facts: Sequence[PurchaseFacts]) -> PurchaseCheck:
    found: list[Violation] = []
    beyond_by_person = 0

    def broke(f: PurchaseFacts, invariant: Invariant, detail: str) -> None:
        found.append(
            Violation(
                invariant=invariant,
                detail=f"{f.requisition_id}: {detail}",
                order_id=f.requisition_id,
            )
        )

    good = 0
    for f in facts:
        if f.status is None:
            broke(f, Invariant.PURCHASES_KNOWN, "Temporal has no such purchase")
        elif not f.settled:
            broke(f, Invariant.PURCHASES_SETTLED, f"still {f.status.value}")
        beyond, by_person = paid_beyond_received(f)
        beyond_by_person += by_person
        for problem in beyond:
            broke(f, Invariant.PAID_WITHIN_RECEIVED, problem)
        for problem in paid_twice(f):
            broke(f, Invariant.NO_INVOICE_PAID_TWICE, problem)
        if lines := unhandled_exceptions(f):
            listed = ", ".join(str(n) for n in lines)
            broke(
                f,
                Invariant.EXCEPTIONS_HANDLED,
                f"lines {listed} in exception, undecided, and nobody is asked to decide",
            )
        good += unexpected(f) is None
    rate = good / len(facts) if facts else 1.0
    if rate < SUCCESS_TARGET:
        misses = [f"{f.requisition_id}: {why}" for f in facts if (why := unexpected(f))]
        found.append(
            Violation(
                invariant=Invariant.PURCHASES_AS_EXPECTED,
                detail=f"{good} of {len(facts)} ({rate:.1%}) as expected; " + "; ".join(misses[:5]),
            )
        )
    with_exception = [
        f for f in facts if f.result and (f.result.decisions or f.result.pending_review)
    ]
    statuses = Counter(f.status.value if f.status else "unknown" for f in facts)
    return PurchaseCheck(
        purchases=len(facts),
        by_kind=dict(Counter(f.kind.value for f in facts)),
        by_status=dict(statuses.most_common()),
        as_expected=good,
        success_rate=round(rate, 4),
        erp_records={
            "purchase_orders": sum(f.purchase_orders for f in facts),
            "goods_receipts": sum(len(f.receipts) for f in facts),
            "supplier_invoices": sum(len(f.invoices) for f in facts),
            "supplier_payments": sum(len(f.payments) for f in facts),
        },
        payments=sum(len(f.payments) for f in facts),
        paid=sum((f.paid for f in facts), Decimal(0)),
        refused=sum(len(f.result.refused) for f in facts if f.result),
        exceptions=len(with_exception),
        decided=sum(
            any(d.decided_by for d in f.result.decisions) for f in with_exception if f.result
        ),
        waiting=sum(f.waiting_on_person for f in with_exception),
        accepted_beyond_tolerance=beyond_by_person,
        violations=found,
    )
