"""The three-way match: per order line, what was ordered, received and invoiced, at what price,
and whether the difference is within the configured tolerance. Pure, property-tested.

Arithmetic is exact `Decimal` in the purchase unit and the order's currency; comparisons with
the tolerances use the exact figures, and money is rounded to the currency's minor unit only
where it is reported (`round_money`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, Inexact, localcontext

from domain.purchasing.models import (
    DocumentKind,
    GoodsReceipt,
    LineMatch,
    MatchReport,
    MatchStatus,
    ReceiptKind,
    Requisition,
    RequisitionLine,
    SupplierInvoice,
    Tolerance,
)
from domain.purchasing.policy import TolerancePolicy, tolerance_for
from domain.purchasing.rules import in_purchase_unit, normalise_reference

# ISO 4217 minor units where they are not 2 (the list's currencies in use; funds codes left out).
_MINOR_UNITS = {
    code: places
    for codes, places in (
        ("BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX VND VUV XAF XOF XPF", 0),
        ("BHD IQD JOD KWD LYD OMR TND", 3),
    )
    for code in codes.split()
}
# Unit prices may be finer than money (0.0125 EUR a screw): an inexact average price is
# reported with this many places beyond the currency's.
_PRICE_EXTRA_PLACES = 4
_HUNDRED = Decimal(100)


def minor_units(currency: str) -> int:
    return _MINOR_UNITS.get(currency.upper(), 2)


def round_money(amount: Decimal, currency: str) -> Decimal:
    """`amount` to the currency's minor unit, half away from zero: commercial rounding, as
    suppliers print their invoices (and as the EU's VAT rules round tax), so a figure we
    compute agrees with the printed one; symmetric, so a credit note rounds as its invoice."""
    return amount.quantize(Decimal(1).scaleb(-minor_units(currency)), rounding=ROUND_HALF_UP)


def three_way_match(
    req: Requisition,
    receipts: Sequence[GoodsReceipt],
    invoices: Sequence[SupplierInvoice],
    tolerances: TolerancePolicy,
) -> MatchReport:
    """Each order line against every receipt (returns subtract) and invoice (credit notes
    subtract) so far. A line is OPEN until something is invoiced on it, then MATCHED (the
    invoices charge the order price and no more than was received; a partial invoice matches),
    WITHIN_TOLERANCE (a variance the tolerance allows) or EXCEPTION (with the reasons).

    What concerns a whole document (a currency other than the order's, a tax figure that does
    not add up, a credit note for an invoice not received) is a document reason, and each line
    of that document is in exception with it too, so a decision on lines decides it.
    """
    tallies = {line.line_no: _Tally() for line in req.lines}
    lines = {line.line_no: line for line in req.lines}
    document_reasons: list[str] = []
    for receipt in receipts:
        _count_receipt(receipt, req, lines, tallies, document_reasons)
    cancelled = _cancelled_groups(invoices)
    invoice_keys = {
        normalise_reference(doc.reference) for doc in invoices if doc.kind is DocumentKind.INVOICE
    }
    for doc in invoices:
        reasons = _document_reasons(doc, req, lines, tolerances, invoice_keys, cancelled)
        document_reasons += reasons
        _count_invoice(doc, req, lines, tallies, reasons)
    document_reasons += _overcredited(invoices, lines, tallies)
    matched = [
        _match_line(
            line,
            tallies[line.line_no],
            tolerance_for(tolerances, req.supplier_id, line.category),
            req.currency,
        )
        for line in req.lines
    ]
    return MatchReport(
        lines=matched,
        document_reasons=_unique(document_reasons),
        total_variance=sum((abs(m.amount_variance) for m in matched), Decimal(0)),
    )


@dataclass
class _Tally:
    """One line's running figures, exact, in the purchase unit and the order's currency."""

    received: Decimal = Decimal(0)
    invoiced: Decimal = Decimal(0)  # whatever the currency: a quantity is a quantity
    priced: Decimal = Decimal(0)  # invoiced in the order's currency: what `amount` is for
    amount: Decimal = Decimal(0)
    documents: list[str] = field(default_factory=list)  # invoices and credit notes on the line
    receipt_reasons: list[str] = field(default_factory=list)
    invoice_reasons: list[str] = field(default_factory=list)


def _count_receipt(
    receipt: GoodsReceipt,
    req: Requisition,
    lines: dict[int, RequisitionLine],
    tallies: dict[int, _Tally],
    document_reasons: list[str],
) -> None:
    what = "return" if receipt.kind is ReceiptKind.RETURN else "receipt"
    if receipt.requisition_id != req.requisition_id:
        document_reasons.append(
            f"{what} {receipt.receipt_id} is for requisition {receipt.requisition_id}: not counted"
        )
        return
    sign = -1 if receipt.kind is ReceiptKind.RETURN else 1
    for rl in receipt.lines:
        line = lines.get(rl.line_no)
        if line is None:
            document_reasons.append(
                f"{what} {receipt.receipt_id}: line {rl.line_no} is not on the requisition"
            )
            continue
        qty = in_purchase_unit(line, rl.quantity, rl.unit)
        if qty is None:
            tallies[rl.line_no].receipt_reasons.append(
                f"{what} {receipt.receipt_id}: {plain(rl.quantity)} {rl.unit} has no conversion "
                f"to {line.unit}: not counted"
            )
            continue
        tallies[rl.line_no].received += sign * qty


def _group_key(doc: SupplierInvoice) -> str:
    """Which invoice a document belongs with: itself, or the invoice a credit note credits."""
    if doc.kind is DocumentKind.CREDIT_NOTE:
        return normalise_reference(doc.credits_reference or "")
    return normalise_reference(doc.reference)


def _cancelled_groups(invoices: Sequence[SupplierInvoice]) -> set[str]:
    """Invoices their credit notes cancel in full (every line and the tax): whatever was wrong
    with them no longer counts (e.g. an invoice in the wrong currency, credited and reissued)."""
    figures: dict[str, dict[tuple[int, str, str, str], Decimal]] = {}
    for doc in invoices:
        sign = -1 if doc.kind is DocumentKind.CREDIT_NOTE else 1
        sums = figures.setdefault(_group_key(doc), {})
        for il in doc.lines:
            for what, value in (("qty", il.quantity), ("amount", il.quantity * il.unit_price)):
                key = (il.line_no, il.unit or "", doc.currency, what)
                sums[key] = sums.get(key, Decimal(0)) + sign * value
        tax = (0, "", doc.currency, "tax")
        sums[tax] = sums.get(tax, Decimal(0)) + sign * doc.tax
    has_invoice = {_group_key(d) for d in invoices if d.kind is DocumentKind.INVOICE}
    return {
        key
        for key, sums in figures.items()
        if key in has_invoice and all(value == 0 for value in sums.values())
    }


def _document_reasons(
    doc: SupplierInvoice,
    req: Requisition,
    lines: dict[int, RequisitionLine],
    tolerances: TolerancePolicy,
    invoice_keys: set[str],
    cancelled: set[str],
) -> list[str]:
    what = _what(doc)
    if doc.requisition_id != req.requisition_id:
        return [f"{what} is for requisition {doc.requisition_id}: not counted"]
    if _group_key(doc) in cancelled:
        return []
    reasons: list[str] = []
    if doc.currency != req.currency:
        reasons.append(f"{what} is in {doc.currency}, the order in {req.currency}")
    if doc.kind is DocumentKind.CREDIT_NOTE and _group_key(doc) not in invoice_keys:
        reasons.append(f"{what} credits {doc.credits_reference}, which has not been received")
    expected = sum(
        (
            il.quantity * il.unit_price * lines[il.line_no].tax_rate
            for il in doc.lines
            if il.line_no in lines
        ),
        Decimal(0),
    )
    tax_abs = tolerance_for(tolerances, doc.supplier_id, "").tax_abs
    if abs(doc.tax - expected) > tax_abs:
        reasons.append(
            f"{what}: tax {doc.tax} but its lines' tax is {round_money(expected, doc.currency)}"
            f" (tolerance {plain(tax_abs)})"
        )
    for il in doc.lines:
        if il.line_no not in lines:
            reasons.append(f"{what}: line {il.line_no} is not on the requisition")
    return reasons


def _count_invoice(
    doc: SupplierInvoice,
    req: Requisition,
    lines: dict[int, RequisitionLine],
    tallies: dict[int, _Tally],
    reasons: list[str],
) -> None:
    if doc.requisition_id != req.requisition_id:
        return
    priced = doc.currency == req.currency  # amounts in two currencies do not add up
    sign = -1 if doc.kind is DocumentKind.CREDIT_NOTE else 1
    for il in doc.lines:
        line = lines.get(il.line_no)
        if line is None:
            continue
        tally = tallies[il.line_no]
        if doc.reference not in tally.documents:
            tally.documents.append(doc.reference)
        tally.invoice_reasons += [r for r in reasons if r not in tally.invoice_reasons]
        qty = in_purchase_unit(line, il.quantity, il.unit)
        if qty is None:
            tally.invoice_reasons.append(
                f"{_what(doc)}: {plain(il.quantity)} {il.unit} has no conversion to {line.unit}: "
                "not counted"
            )
            continue
        tally.invoiced += sign * qty
        if priced:
            tally.priced += sign * qty
            tally.amount += sign * il.quantity * il.unit_price


def _overcredited(
    invoices: Sequence[SupplierInvoice],
    lines: dict[int, RequisitionLine],
    tallies: dict[int, _Tally],
) -> list[str]:
    """Credit notes that take back more of a line than their invoice charged on it."""
    charged: dict[tuple[str, int], Decimal] = {}
    refs: dict[str, str] = {}
    for doc in invoices:
        sign = -1 if doc.kind is DocumentKind.CREDIT_NOTE else 1
        if doc.kind is DocumentKind.INVOICE:
            refs[_group_key(doc)] = doc.reference
        for il in doc.lines:
            key = (_group_key(doc), il.line_no)
            charged[key] = charged.get(key, Decimal(0)) + sign * il.quantity * il.unit_price
    reasons = []
    for (group, line_no), amount in charged.items():
        if amount < 0 and group in refs and line_no in lines:
            reason = (
                f"credit notes take back more of line {line_no} than invoice {refs[group]} charged"
            )
            tallies[line_no].invoice_reasons.append(reason)
            reasons.append(reason)
    return reasons


def _match_line(line: RequisitionLine, t: _Tally, tol: Tolerance, currency: str) -> LineMatch:
    unit, price = line.unit, line.expected_price
    reasons = t.receipt_reasons + t.invoice_reasons
    if t.received < 0:
        reasons.append(f"returned {plain(-t.received)} {unit} more than was received")
    nothing = t.invoiced == 0 and t.amount == 0
    invoiced_price = _price(t.amount, t.priced, currency) if t.priced > 0 else None
    variance = False
    if t.invoiced < 0:
        reasons.append(f"credited {plain(-t.invoiced)} {unit} more than was invoiced")
    elif t.priced == 0 and t.amount != 0:
        reasons.append(
            f"nothing left invoiced in quantity but {round_money(t.amount, currency)} "
            f"{currency} in amount"
        )
    if t.invoiced > 0:
        variance = _check_quantity(line, t, tol, reasons)
    if invoiced_price is not None:
        variance |= _check_price(line, t, tol, invoiced_price, currency, reasons)
    # Nothing invoiced, nothing to differ: goods waiting for their invoice are no variance.
    amount_variance = round_money(
        Decimal(0) if nothing else t.amount - t.received * price, currency
    )
    if tol.amount_cap is not None and amount_variance > tol.amount_cap:
        reasons.append(
            f"amount variance {amount_variance} {currency} is above the cap {plain(tol.amount_cap)}"
        )
    if t.invoice_reasons:
        status = MatchStatus.EXCEPTION
    elif nothing:
        status = MatchStatus.OPEN
    elif reasons:
        status = MatchStatus.EXCEPTION
    elif variance:
        status = MatchStatus.WITHIN_TOLERANCE
    else:
        status = MatchStatus.MATCHED
    return LineMatch(
        line_no=line.line_no,
        product=line.product,
        ordered=line.quantity,
        received=t.received,
        invoiced=t.invoiced,
        order_price=price,
        invoiced_price=invoiced_price,
        quantity_variance=t.invoiced - t.received,
        price_variance=Decimal(0) if invoiced_price is None else invoiced_price - price,
        amount_variance=amount_variance,
        status=status,
        reasons=_unique(reasons),
        tolerance=tol,
        documents=t.documents,
    )


def _check_quantity(line: RequisitionLine, t: _Tally, tol: Tolerance, reasons: list[str]) -> bool:
    """Invoiced beyond what was received (or, for an over-delivery, ordered): True when there
    is such a variance; a reason when it is beyond the tolerance. Invoicing less is not a
    variance: the rest is invoiced later."""
    pct = tol.quantity_pct
    for base, name in ((t.received, "received"), (line.quantity, "ordered")):
        over = t.invoiced - base
        if over > 0 and over > base * pct / _HUNDRED:
            shown = f"+{_percent(over, base)} %, " if base > 0 else ""
            reasons.append(
                f"invoiced {plain(t.invoiced)} but {name} {plain(base)} "
                f"({shown}tolerance {plain(pct)} %)"
            )
            break  # over the received quantity says it; over the order too is noise
    return t.invoiced > min(t.received, line.quantity)


def _check_price(
    line: RequisitionLine,
    t: _Tally,
    tol: Tolerance,
    invoiced_price: Decimal,
    currency: str,
    reasons: list[str],
) -> bool:
    """The invoices' price per purchase unit against the order price; either tolerance (a
    percentage or an amount per unit) allows an increase. Compared on the exact totals."""
    order_price = line.expected_price
    over = t.amount - t.priced * order_price  # exact; the average price may be rounded
    if over > 0:
        allowed = max(order_price * tol.price_pct / _HUNDRED, tol.price_abs)
        if over > t.priced * allowed:
            shown = (
                f"+{_percent(invoiced_price - order_price, order_price)} %, " if order_price else ""
            )
            reasons.append(
                f"invoiced at {_money(invoiced_price, currency)} but ordered at "
                f"{_money(order_price, currency)} ({shown}tolerance "
                f"{_price_tolerance(tol)})"
            )
    return over != 0


def _price_tolerance(tol: Tolerance) -> str:
    if tol.price_abs and tol.price_pct:
        return f"{plain(tol.price_pct)} % or {plain(tol.price_abs)}"
    if tol.price_abs:
        return plain(tol.price_abs)
    return f"{plain(tol.price_pct)} %"


def _price(amount: Decimal, quantity: Decimal, currency: str) -> Decimal:
    """The average price, exact when it divides out, else rounded finer than money."""
    with localcontext() as ctx:
        ctx.traps[Inexact] = True
        try:
            return amount / quantity
        except Inexact:
            pass
    places = Decimal(1).scaleb(-(minor_units(currency) + _PRICE_EXTRA_PLACES))
    return (amount / quantity).quantize(places, rounding=ROUND_HALF_UP)


def _percent(part: Decimal, whole: Decimal) -> Decimal:
    return (part / whole * _HUNDRED).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def plain(value: Decimal) -> str:
    """A quantity or a setting as people write it: 10, 2.5 (never 1E+1 or 10.000)."""
    return format(value.normalize(), "f")


def _money(value: Decimal, currency: str) -> str:
    rounded = round_money(value, currency)
    return str(rounded) if rounded == value else plain(value)


def _what(doc: SupplierInvoice) -> str:
    kind = "credit note" if doc.kind is DocumentKind.CREDIT_NOTE else "invoice"
    return f"{kind} {doc.reference}"


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))
