"""Supplier invoices and credit notes against a purchase order: posted → cancelled.

A supplier's document number is booked once: a second document of the same supplier with the
same reference (compared without case, spaces or dashes) is refused, whatever its idempotency
key, with 409 DuplicateInvoice naming the one posted first. A cancelled document no longer
counts, so a document posted in error can be cancelled and posted again. Cancelling reverses
it in the books; a paid invoice cannot be cancelled (the supplier would have to refund first);
cancelling a cancelled document returns it.

What the three-way match judges (another currency than the order's, prices, quantities) is
recorded as it came: the ERP books what the supplier sent, the workflow decides what to pay.
"""

from __future__ import annotations

import json
import re
import sqlite3
from decimal import Decimal

from domain.erp import ErpSupplierInvoiceStatus
from domain.purchasing.models import DocumentKind, InvoiceLine
from services.erp import purchasing
from services.erp.errors import ErpError, invalid_state, not_found, validation
from services.erp.purchase_schemas import ErpSupplierInvoiceRecord, SupplierInvoiceRequest
from services.erp.schemas import money
from services.erp.store import Tx, parse_ts

_IGNORED_IN_REFERENCES = re.compile(r"[\s\-‐-―]+")


def reference_key(reference: str) -> str:
    """`INV 2025-001` and `inv2025001` are the same document number."""
    return _IGNORED_IN_REFERENCES.sub("", reference).casefold()


def _problems(request: SupplierInvoiceRequest, order: sqlite3.Row) -> list[str]:
    problems = []
    if request.supplier_id != order["supplier_id"]:
        problems.append(
            f"supplier_id: purchase order {order['purchase_order_id']} is with supplier"
            f" {order['supplier_id']}, not {request.supplier_id}"
        )
    if not reference_key(request.reference):
        problems.append("reference: must not be empty")
    if not re.fullmatch(r"[A-Z]{3}", request.currency):
        problems.append("currency: an ISO 4217 code of three capital letters, e.g. EUR")
    if request.due_on < request.issued_on:
        problems.append("due_on: before issued_on")
    if request.tax < 0:
        problems.append("tax: must not be negative (a credit note's kind gives the sign)")
    if request.kind is DocumentKind.CREDIT_NOTE and not (request.credits_reference or "").strip():
        problems.append("credits_reference: a credit note names the invoice it corrects")
    if not request.lines:
        problems.append("lines: at least one line")
    ordered = purchasing.order_lines(order)
    for n, line in enumerate(request.lines):
        if line.line_no not in ordered:
            problems.append(f"lines.{n}.line_no: the purchase order has no line {line.line_no}")
        if line.quantity <= 0:
            problems.append(f"lines.{n}.quantity: must be greater than 0")
        if line.unit_price < 0:
            problems.append(f"lines.{n}.unit_price: must not be negative")
    return problems


def post(tx: Tx, request: SupplierInvoiceRequest) -> ErpSupplierInvoiceRecord:
    order = purchasing.open_order(
        tx, request.purchase_order_id, request.requisition_id, "post an invoice on"
    )
    if problems := _problems(request, order):
        raise validation("; ".join(problems))
    key = reference_key(request.reference)
    earlier = tx.one(
        "SELECT erp_invoice_id, reference, purchase_order_id FROM supplier_invoices"
        " WHERE supplier_id = ? AND reference_key = ? AND status = 'posted' ORDER BY id LIMIT 1",
        (request.supplier_id, key),
    )
    if earlier is not None:
        raise ErpError(
            409,
            "DuplicateInvoice",
            f"{request.reference} is a duplicate: supplier {request.supplier_id}'s document"
            f" {earlier['reference']} is already posted as {earlier['erp_invoice_id']} on"
            f" purchase order {earlier['purchase_order_id']}",
        )
    erp_invoice_id = f"SINV-{tx.next_id('supplier_invoices'):06d}"
    tx.run(
        "INSERT INTO supplier_invoices (erp_invoice_id, purchase_order_id, requisition_id,"
        " supplier_id, reference, reference_key, kind, currency, issued_on, due_on, lines, net,"
        " tax, credits_reference, status, created_at, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'posted', ?, ?)",
        (
            erp_invoice_id,
            request.purchase_order_id,
            request.requisition_id,
            request.supplier_id,
            request.reference,
            key,
            request.kind.value,
            request.currency,
            request.issued_on.isoformat(),
            request.due_on.isoformat(),
            json.dumps([line.model_dump(mode="json") for line in request.lines]),
            str(money(request.net)),
            str(money(request.tax)),
            request.credits_reference,
            tx.now,
            tx.now,
        ),
    )
    purchasing.refresh(tx, request.purchase_order_id)
    return get(tx, erp_invoice_id)


def cancel(tx: Tx, erp_invoice_id: str) -> ErpSupplierInvoiceRecord:
    record = get(tx, erp_invoice_id)
    if record.status is ErpSupplierInvoiceStatus.CANCELLED:
        return record
    payment = tx.one(
        "SELECT payment_id FROM supplier_payments WHERE erp_invoice_id = ? ORDER BY id LIMIT 1",
        (erp_invoice_id,),
    )
    if payment is not None:
        state = f"paid by {payment['payment_id']}; the supplier must refund first"
        raise invalid_state("supplier invoice", erp_invoice_id, state, "cancel")
    tx.run(
        "UPDATE supplier_invoices SET status = 'cancelled', updated_at = ?"
        " WHERE erp_invoice_id = ?",
        (tx.now, erp_invoice_id),
    )
    purchasing.refresh(tx, record.purchase_order_id)
    return get(tx, erp_invoice_id)


def payable(tx: Tx, purchase_order_id: str, reference: str) -> ErpSupplierInvoiceRecord:
    """The posted invoice (not a credit note) with this reference on the order."""
    rows = tx.all(
        "SELECT * FROM supplier_invoices WHERE purchase_order_id = ? AND reference_key = ?"
        " AND kind = 'invoice' ORDER BY status = 'posted' DESC, id DESC",
        (purchase_order_id, reference_key(reference)),
    )
    if not rows:
        raise not_found("supplier invoice", f"{reference} on purchase order {purchase_order_id}")
    found = _record(rows[0])
    if found.status is not ErpSupplierInvoiceStatus.POSTED:
        raise invalid_state("supplier invoice", found.erp_invoice_id, found.status.value, "pay")
    return found


def get(tx: Tx, erp_invoice_id: str) -> ErpSupplierInvoiceRecord:
    row = tx.one("SELECT * FROM supplier_invoices WHERE erp_invoice_id = ?", (erp_invoice_id,))
    if row is None:
        raise not_found("supplier invoice", erp_invoice_id)
    return _record(row)


def find(tx: Tx, requisition_id: str) -> list[ErpSupplierInvoiceRecord]:
    rows = tx.all(
        "SELECT * FROM supplier_invoices WHERE requisition_id = ? ORDER BY id", (requisition_id,)
    )
    return [_record(row) for row in rows]


def _record(row: sqlite3.Row) -> ErpSupplierInvoiceRecord:
    return ErpSupplierInvoiceRecord(
        erp_invoice_id=row["erp_invoice_id"],
        purchase_order_id=row["purchase_order_id"],
        supplier_id=row["supplier_id"],
        reference=row["reference"],
        kind=row["kind"],
        net=Decimal(row["net"]),
        tax=Decimal(row["tax"]),
        currency=row["currency"],
        status=ErpSupplierInvoiceStatus(row["status"]),
        requisition_id=row["requisition_id"],
        issued_on=row["issued_on"],
        due_on=row["due_on"],
        lines=[InvoiceLine.model_validate(x) for x in json.loads(row["lines"])],
        credits_reference=row["credits_reference"],
        created_at=parse_ts(row["created_at"]),
        updated_at=parse_ts(row["updated_at"]),
    )
