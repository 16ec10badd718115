"""What may be paid, what still stands in the way of a complete purchase, and who decides an
exception: pure functions of the match, the documents, the decisions and the payments made.

The purchase calls them again after every document, decision and payment, with the payments
made so far: a line of an invoice is paid once, whatever the order of events.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from decimal import Decimal

from domain.purchasing.matching import plain, round_money
from domain.purchasing.models import (
    DocumentKind,
    ExceptionDecision,
    LineMatch,
    MatchReport,
    MatchStatus,
    PaymentDue,
    Requisition,
    SupplierInvoice,
    SupplierPayment,
)
from domain.purchasing.rules import normalise_reference

# A line with nothing invoiced net (OPEN) pays what its documents net to: nothing.
_PAYABLE = frozenset({MatchStatus.MATCHED, MatchStatus.WITHIN_TOLERANCE, MatchStatus.OPEN})


def payments_due(
    req: Requisition,
    invoices: Sequence[SupplierInvoice],
    report: MatchReport,
    decisions: Sequence[ExceptionDecision],
    paid: Sequence[SupplierPayment],
) -> list[PaymentDue]:
    """Per invoice, its lines not yet paid that are matched, within tolerance or accepted by a
    decision, less the credit notes for those lines, gross (with their share of the invoice's
    tax), due on the invoice's due date. An invoice with a line in exception that nobody
    decided pays nothing yet (payment is held); a rejected line is not paid while its exception
    stands. A net of zero or less pays nothing and counts as settled.

    A due's lines may grow while it waits for its date (another line becomes payable), so the
    caller asks again just before paying, with the payments made so far."""
    status = {line.line_no: line.status for line in report.lines}
    rates = {line.line_no: line.tax_rate for line in req.lines}
    verdicts = _verdicts(report, decisions)
    settled = {(normalise_reference(p.invoice_reference), n) for p in paid for n in p.lines}
    dues: list[PaymentDue] = []
    seen: set[str] = set()
    for invoice in invoices:
        key = normalise_reference(invoice.reference)
        if (
            invoice.kind is not DocumentKind.INVOICE
            or invoice.requisition_id != req.requisition_id
            or key in seen
        ):
            continue
        seen.add(key)
        credits = _credits_for(invoice, invoices)
        on_it = {il.line_no for doc in (invoice, *credits) for il in doc.lines} & status.keys()
        if any(status[n] is MatchStatus.EXCEPTION and n not in verdicts for n in on_it):
            continue  # held until a person decides
        due = sorted(
            n
            for n in on_it
            if (key, n) not in settled and (status[n] in _PAYABLE or verdicts.get(n) is True)
        )
        if not due:
            continue
        # Rounded cumulatively: what this invoice's payments add up to is the rounded share of
        # every line paid so far, so parts never sum to more than the printed gross (the ERP
        # refuses a cent over).
        before = [p for p in paid if normalise_reference(p.invoice_reference) == key]
        upto = set(due) | {n for p in before for n in p.lines}
        _, tax = _net_of_credits(invoice, credits, due, rates)
        cum_net, cum_tax = _net_of_credits(invoice, credits, upto, rates)
        amount = round_money(cum_net + cum_tax, invoice.currency) - sum(
            (p.amount for p in before), Decimal(0)
        )
        netted = [cn for cn in credits if any(il.line_no in due for il in cn.lines)]
        if amount <= 0:
            continue  # credited in full: settled without a payment
        dues.append(
            PaymentDue(
                invoice_reference=invoice.reference,
                lines=due,
                amount=amount,
                tax=round_money(tax, invoice.currency),
                currency=invoice.currency,
                due_on=invoice.due_on,
                credit_references=[cn.reference for cn in netted],
            )
        )
    return dues


def outstanding(
    req: Requisition,
    report: MatchReport,
    invoices: Sequence[SupplierInvoice],
    decisions: Sequence[ExceptionDecision],
    paid: Sequence[SupplierPayment],
) -> list[str]:
    """Why the purchase is not complete yet; empty: it is."""
    verdicts = _verdicts(report, decisions)
    why: list[str] = []
    for line in report.lines:
        name = f"line {line.line_no} ({line.product})"
        if line.received < line.ordered:
            why.append(f"{name}: received {plain(line.received)} of {plain(line.ordered)}")
        if line.status is MatchStatus.EXCEPTION and line.line_no not in verdicts:
            why.append(f"{name}: exception awaiting a decision: {'; '.join(line.reasons)}")
        elif line.status is MatchStatus.EXCEPTION and verdicts[line.line_no] is False:
            why.append(f"{name}: rejected, waiting for a credit note")
        if line.invoiced < line.received:
            why.append(
                f"{name}: invoiced {plain(line.invoiced)} of {plain(line.received)} received"
            )
    for due in payments_due(req, invoices, report, decisions, paid):
        lines = ", ".join(str(n) for n in due.lines)
        why.append(
            f"invoice {due.invoice_reference} (lines {lines}): {due.amount} {due.currency} "
            f"due on {due.due_on}"
        )
    return why


def exception_variance(report: MatchReport, lines: Collection[int] | None = None) -> Decimal:
    """The absolute amount variance of the lines in exception (of `lines` only, when given):
    what decides who reviews them (`policy.exception_plan`)."""
    return sum(
        (
            abs(line.amount_variance)
            for line in report.exceptions
            if lines is None or line.line_no in lines
        ),
        Decimal(0),
    )


def awaiting_credit_note(report: MatchReport, decisions: Sequence[ExceptionDecision]) -> list[int]:
    """Lines a decision rejected whose exception still stands: the supplier owes a credit note."""
    verdicts = _verdicts(report, decisions)
    return [line.line_no for line in report.exceptions if verdicts.get(line.line_no) is False]


def undecided_exceptions(report: MatchReport, decisions: Sequence[ExceptionDecision]) -> list[int]:
    """Lines in exception that no decision covers (none yet, or documents arrived on the line
    after it): what the next exception review is about."""
    verdicts = _verdicts(report, decisions)
    return [line.line_no for line in report.exceptions if line.line_no not in verdicts]


def reviewed_documents(report: MatchReport, lines: Collection[int]) -> list[str]:
    """The documents on `lines` (an ExceptionDecision's `documents`: what the reviewer saw)."""
    return sorted({ref for line in report.lines if line.line_no in lines for ref in line.documents})


def _verdicts(report: MatchReport, decisions: Sequence[ExceptionDecision]) -> dict[int, bool]:
    """Line -> accepted (True) or rejected (False) by the latest decision on it, if that
    decision saw every document now on the line."""
    by_line = {line.line_no: line for line in report.lines}
    latest: dict[int, tuple[bool, ExceptionDecision]] = {}
    # By round; within a round the later in the list wins. Rejection wins within a decision.
    for _, decision in sorted(enumerate(decisions), key=lambda d: (d[1].round_no, d[0])):
        for n in decision.accepted_lines:
            latest[n] = (True, decision)
        for n in decision.rejected_lines:
            latest[n] = (False, decision)
    return {
        n: verdict
        for n, (verdict, decision) in latest.items()
        if n in by_line and _covers(decision, by_line[n])
    }


def _covers(decision: ExceptionDecision, line: LineMatch) -> bool:
    return not decision.documents or set(line.documents) <= set(decision.documents)


def _credits_for(
    invoice: SupplierInvoice, invoices: Sequence[SupplierInvoice]
) -> list[SupplierInvoice]:
    key = normalise_reference(invoice.reference)
    return [
        doc
        for doc in invoices
        if doc.kind is DocumentKind.CREDIT_NOTE
        and normalise_reference(doc.credits_reference or "") == key
        and doc.requisition_id == invoice.requisition_id
        and doc.currency == invoice.currency  # netted in the invoice's currency only
    ]


def _net_of_credits(
    invoice: SupplierInvoice,
    credits: Sequence[SupplierInvoice],
    lines: Collection[int],
    rates: Mapping[int, Decimal],
) -> tuple[Decimal, Decimal]:
    """The net and tax of `lines` on the invoice, less the credit notes for them."""
    net, tax = _share(invoice, lines, rates)
    for cn in credits:
        if any(il.line_no in lines for il in cn.lines):
            cn_net, cn_tax = _share(cn, lines, rates)
            net, tax = net - cn_net, tax - cn_tax
    return net, tax


def _share(
    doc: SupplierInvoice, lines: Collection[int], rates: Mapping[int, Decimal]
) -> tuple[Decimal, Decimal]:
    """The net of `lines` on the document and their part of its printed tax, exact: in
    proportion to the tax their rates give (a 7 % line does not carry the 19 % lines' tax);
    by net when the rates give none; by line count when the document nets to zero."""
    rows = [
        (il.line_no in lines, il.quantity * il.unit_price, rates.get(il.line_no, Decimal(0)))
        for il in doc.lines
    ]
    net = sum((amount for mine, amount, _ in rows if mine), Decimal(0))
    weights: list[Callable[[Decimal, Decimal], Decimal]] = [
        lambda amount, rate: amount * rate,
        lambda amount, rate: amount,
        lambda amount, rate: Decimal(1),
    ]
    for weight in weights:
        whole = sum((weight(amount, rate) for _, amount, rate in rows), Decimal(0))
        if whole:
            part = sum((weight(amount, rate) for mine, amount, rate in rows if mine), Decimal(0))
            return net, doc.tax * part / whole
    return net, Decimal(0)
