"""Pure rules a requisition and its documents must satisfy before anything is written anywhere.

A requisition is refused with every problem named by its field; a receipt or an invoice is
refused with one reason, which the purchase answers to the sender and keeps for audit.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from decimal import Decimal

from pydantic import BaseModel

from domain.purchasing.models import (
    DocumentKind,
    GoodsReceipt,
    ReceiptKind,
    Requisition,
    RequisitionLine,
    SupplierInvoice,
)

MAX_LINES = 500
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")
# Suppliers write the same number as "INV-001", "inv 001" or "INV001".
_REFERENCE_NOISE = re.compile(r"[\s\-‐‑‒–—]+")


class Violation(BaseModel):
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


def describe(violations: Sequence[Violation]) -> str:
    return "; ".join(str(v) for v in violations)


def validate_requisition(req: Requisition) -> list[Violation]:
    """Every problem with the requisition, each naming its field; empty when it is valid."""
    found: list[Violation] = []

    def bad(field: str, message: str) -> None:
        found.append(Violation(field=field, message=message))

    if not _ID.match(req.requisition_id):
        bad("requisition_id", "must be 1-64 letters, digits or . _ : - and start with one")
    if not _ID.match(req.supplier_id):
        bad("supplier_id", "must be 1-64 letters, digits or . _ : - and start with one")
    if not req.requested_by.strip():
        bad("requested_by", "must name the requester")
    if not req.cost_centre.strip():
        bad("cost_centre", "must not be empty")
    if not _CURRENCY.match(req.currency):
        bad("currency", f"{req.currency!r} is not an ISO 4217 code like EUR")
    if not req.lines:
        bad("lines", "a requisition needs at least one line")
    if len(req.lines) > MAX_LINES:
        bad("lines", f"at most {MAX_LINES} lines per requisition")
    seen: set[int] = set()
    for i, line in enumerate(req.lines):
        where = f"lines[{i}]"
        if line.line_no < 1:
            bad(f"{where}.line_no", f"must be 1 or more, got {line.line_no}")
        elif line.line_no in seen:
            bad(f"{where}.line_no", f"{line.line_no} appears twice; documents refer to it")
        seen.add(line.line_no)
        if not line.product.strip():
            bad(f"{where}.product", "must not be empty")
        if not line.unit.strip():
            bad(f"{where}.unit", "must name the purchase unit")
        if line.quantity <= 0:
            bad(f"{where}.quantity", f"must be above zero, got {line.quantity}")
        if line.expected_price < 0:
            bad(f"{where}.expected_price", f"must not be negative, got {line.expected_price}")
        if not 0 <= line.tax_rate <= 1:
            bad(f"{where}.tax_rate", f"must be between 0 and 1 (0.19 is 19 %), got {line.tax_rate}")
        for unit, factor in line.conversions.items():
            if factor <= 0:
                bad(f"{where}.conversions.{unit}", f"must be above zero, got {factor}")
    return found


def receipt_problem(
    receipt: GoodsReceipt, req: Requisition, earlier: Sequence[GoodsReceipt]
) -> str | None:
    """Why the purchase refuses this receipt, or None. The same receipt again (same id and
    content) is no problem: the caller recognises it as a repeat and records nothing."""
    if receipt.requisition_id != req.requisition_id:
        return (
            f"receipt {receipt.receipt_id} is for requisition {receipt.requisition_id}, "
            f"not {req.requisition_id}"
        )
    if not receipt.receipt_id.strip():
        return "the receipt has no receipt_id"
    for other in earlier:
        if other.receipt_id == receipt.receipt_id:
            if same_receipt(other, receipt):
                return None
            return f"receipt {receipt.receipt_id} was already recorded with other content"
    if not receipt.lines:
        return f"receipt {receipt.receipt_id} has no lines"
    lines = {line.line_no: line for line in req.lines}
    returned: dict[int, Decimal] = {}
    for line in receipt.lines:
        if line.line_no not in lines:
            return f"receipt {receipt.receipt_id}: line {line.line_no} is not on the requisition"
        if line.quantity <= 0:
            return (
                f"receipt {receipt.receipt_id}: line {line.line_no} quantity must be above zero, "
                f"got {line.quantity} (a return is a document of kind return)"
            )
        if receipt.kind is ReceiptKind.RETURN:
            # A return in a unit the line does not convert cannot be checked here: the match
            # reports the unknown unit as an exception.
            qty = in_purchase_unit(lines[line.line_no], line.quantity, line.unit)
            if qty is not None:
                returned[line.line_no] = returned.get(line.line_no, Decimal(0)) + qty
    for line_no, qty in sorted(returned.items()):
        have = received_so_far(lines[line_no], earlier)
        if qty > have:
            unit = lines[line_no].unit
            return (
                f"return {receipt.receipt_id}: line {line_no} returns {qty} {unit} "
                f"but only {have} {unit} were received"
            )
    return None


def invoice_problem(invoice: SupplierInvoice, req: Requisition) -> str | None:
    """Why the purchase refuses this invoice or credit note, or None. A currency other than
    the order's, or a tax figure that does not add up, is not refused: the match reports it."""
    ref = invoice.reference
    what = "credit note" if invoice.kind is DocumentKind.CREDIT_NOTE else "invoice"
    if invoice.requisition_id != req.requisition_id:
        return f"{what} {ref} is for requisition {invoice.requisition_id}, not {req.requisition_id}"
    if invoice.supplier_id != req.supplier_id:
        return f"{what} {ref} is from supplier {invoice.supplier_id}, not {req.supplier_id}"
    if not normalise_reference(ref):
        return f"the {what} has no reference (the supplier's number)"
    if not invoice.lines:
        return f"{what} {ref} has no lines"
    known = {line.line_no for line in req.lines}
    for line in invoice.lines:
        if line.line_no not in known:
            return f"{what} {ref}: line {line.line_no} is not on the requisition"
        if line.quantity <= 0:
            return (
                f"{what} {ref}: line {line.line_no} quantity must be above zero, got "
                f"{line.quantity} (a credit note's figures are positive too)"
            )
        if line.unit_price < 0:
            return f"{what} {ref}: line {line.line_no} unit_price must not be negative"
    if invoice.tax < 0:
        return f"{what} {ref}: tax must not be negative (a credit note's figures are positive)"
    if invoice.due_on < invoice.issued_on:
        return (
            f"{what} {ref} is due on {invoice.due_on}, before it was issued ({invoice.issued_on})"
        )
    if invoice.kind is DocumentKind.CREDIT_NOTE:
        if not (invoice.credits_reference or "").strip():
            return f"credit note {ref} does not say which invoice it credits (credits_reference)"
    elif invoice.credits_reference:
        return f"invoice {ref} names credits_reference, which only a credit note may"
    return None


def duplicate_problem(invoice: SupplierInvoice, earlier: Sequence[SupplierInvoice]) -> str | None:
    """Why this invoice is a duplicate of one already taken, or None: the same supplier's
    reference (ignoring case, spaces and dashes) again, or the same content under another
    reference. The same reference with another amount is refused too: it conflicts."""
    ref = normalise_reference(invoice.reference)
    for other in earlier:
        if other.supplier_id != invoice.supplier_id:
            continue
        if normalise_reference(other.reference) == ref:
            if _same_amount(other, invoice):
                return (
                    f"duplicate of {other.reference}: same supplier, reference and amount "
                    f"{other.gross} {other.currency}"
                )
            return (
                f"reference {invoice.reference} conflicts with {other.reference}, already taken "
                f"with amount {other.gross} {other.currency} (this one: {invoice.gross} "
                f"{invoice.currency})"
            )
        if _same_content(other, invoice):
            return (
                f"duplicate of {other.reference}: same supplier, date, lines and tax under "
                f"another reference ({invoice.reference})"
            )
    return None


def normalise_reference(reference: str) -> str:
    return _REFERENCE_NOISE.sub("", reference).casefold()


def same_receipt(a: GoodsReceipt, b: GoodsReceipt) -> bool:
    """The same receipt: requisition, kind and lines (in any order); the time may differ."""
    return (a.requisition_id, a.kind, _receipt_lines(a)) == (
        b.requisition_id,
        b.kind,
        _receipt_lines(b),
    )


def in_purchase_unit(line: RequisitionLine, quantity: Decimal, unit: str | None) -> Decimal | None:
    """`quantity` of `unit` in the line's purchase unit; None when the line has no factor."""
    if unit is None or unit == line.unit:
        return quantity
    factor = line.conversions.get(unit)
    return None if factor is None else quantity * factor


def received_so_far(line: RequisitionLine, receipts: Sequence[GoodsReceipt]) -> Decimal:
    """Net of returns, in the purchase unit; quantities in unknown units are not counted."""
    total = Decimal(0)
    for receipt in receipts:
        sign = -1 if receipt.kind is ReceiptKind.RETURN else 1
        for rl in receipt.lines:
            if rl.line_no == line.line_no:
                qty = in_purchase_unit(line, rl.quantity, rl.unit)
                total += sign * (qty or 0)
    return total


def _receipt_lines(receipt: GoodsReceipt) -> list[tuple[int, Decimal, str]]:
    return sorted((rl.line_no, rl.quantity, rl.unit or "") for rl in receipt.lines)


def _invoice_lines(invoice: SupplierInvoice) -> list[tuple[int, Decimal, Decimal, str]]:
    return sorted((il.line_no, il.quantity, il.unit_price, il.unit or "") for il in invoice.lines)


def _same_amount(a: SupplierInvoice, b: SupplierInvoice) -> bool:
    return (a.kind, a.currency, a.gross) == (b.kind, b.currency, b.gross)


def _same_content(a: SupplierInvoice, b: SupplierInvoice) -> bool:
    return (a.kind, a.currency, a.issued_on, a.tax, _invoice_lines(a)) == (
        b.kind,
        b.currency,
        b.issued_on,
        b.tax,
        _invoice_lines(b),
    )
