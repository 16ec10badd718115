"""Payments to suppliers, of named lines of a posted invoice: paid.

The ERP is the last guard against paying twice: an invoice line is paid at most once (409
LineAlreadyPaid, naming the payment), and never more than the invoice's gross in all (409
Overpayment), whatever the idempotency keys. The amount may be less than the lines' share of
the gross: credit notes netted into it are named in `credit_references`.
"""

from __future__ import annotations

import json
import sqlite3
from decimal import Decimal

from services.erp import purchasing, supplier_invoices
from services.erp.errors import ErpError, not_found, validation
from services.erp.purchase_schemas import SupplierPaymentRecord, SupplierPaymentRequest
from services.erp.schemas import money
from services.erp.store import Tx, parse_ts


def pay(tx: Tx, request: SupplierPaymentRequest) -> SupplierPaymentRecord:
    order = purchasing.get(tx, request.purchase_order_id)
    if request.supplier_id != order.supplier_id:
        raise validation(
            f"supplier_id: purchase order {order.purchase_order_id} is with supplier"
            f" {order.supplier_id}, not {request.supplier_id}"
        )
    invoice = supplier_invoices.payable(tx, order.purchase_order_id, request.invoice_reference)
    invoiced = {line.line_no for line in invoice.lines}
    problems = [] if request.lines else ["lines: at least one invoice line"]
    if len(set(request.lines)) != len(request.lines):
        problems.append("lines: a line appears twice")
    if unknown := [n for n in request.lines if n not in invoiced]:
        problems.append(f"lines: invoice {invoice.reference} has no line {unknown[0]}")
    if request.currency != invoice.currency:
        problems.append(f"currency: invoice {invoice.reference} is in {invoice.currency}")
    if problems:
        raise validation("; ".join(problems))
    marks = ",".join("?" * len(request.lines))
    twice = tx.one(
        "SELECT line_no, payment_id FROM supplier_payment_lines"
        f" WHERE erp_invoice_id = ? AND line_no IN ({marks}) ORDER BY line_no LIMIT 1",
        (invoice.erp_invoice_id, *request.lines),
    )
    if twice is not None:
        raise ErpError(
            409,
            "LineAlreadyPaid",
            f"line {twice['line_no']} of invoice {invoice.reference} ({invoice.erp_invoice_id})"
            f" was paid by {twice['payment_id']}",
        )
    amount = money(request.amount)
    earlier = tx.all(
        "SELECT amount FROM supplier_payments WHERE erp_invoice_id = ?", (invoice.erp_invoice_id,)
    )
    paid = sum((Decimal(row["amount"]) for row in earlier), Decimal(0))
    gross = invoice.net + invoice.tax
    if paid + amount > gross:
        raise ErpError(
            409,
            "Overpayment",
            f"paying {amount} {request.currency} would bring invoice {invoice.reference}"
            f" ({invoice.erp_invoice_id}) to {paid + amount} paid of its {gross} gross",
        )
    payment_id = f"SPAY-{tx.next_id('supplier_payments'):06d}"
    tx.run(
        "INSERT INTO supplier_payments (payment_id, purchase_order_id, requisition_id,"
        " supplier_id, erp_invoice_id, invoice_reference, lines, amount, tax, currency, due_on,"
        " credit_references, status, created_at, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'paid', ?, ?)",
        (
            payment_id,
            order.purchase_order_id,
            order.requisition_id,
            order.supplier_id,
            invoice.erp_invoice_id,
            invoice.reference,
            json.dumps(sorted(request.lines)),
            str(amount),
            str(money(request.tax)),
            request.currency,
            request.due_on.isoformat(),
            json.dumps(request.credit_references),
            tx.now,
            tx.now,
        ),
    )
    tx.run_many(
        "INSERT INTO supplier_payment_lines (erp_invoice_id, line_no, payment_id) VALUES (?, ?, ?)",
        [(invoice.erp_invoice_id, n, payment_id) for n in request.lines],
    )
    purchasing.refresh(tx, order.purchase_order_id)
    return get(tx, payment_id)


def get(tx: Tx, payment_id: str) -> SupplierPaymentRecord:
    row = tx.one("SELECT * FROM supplier_payments WHERE payment_id = ?", (payment_id,))
    if row is None:
        raise not_found("supplier payment", payment_id)
    return _record(row)


def find(tx: Tx, requisition_id: str) -> list[SupplierPaymentRecord]:
    rows = tx.all(
        "SELECT * FROM supplier_payments WHERE requisition_id = ? ORDER BY id", (requisition_id,)
    )
    return [_record(row) for row in rows]


def _record(row: sqlite3.Row) -> SupplierPaymentRecord:
    return SupplierPaymentRecord(
        payment_id=row["payment_id"],
        purchase_order_id=row["purchase_order_id"],
        invoice_reference=row["invoice_reference"],
        lines=json.loads(row["lines"]),
        amount=Decimal(row["amount"]),
        currency=row["currency"],
        status=row["status"],
        requisition_id=row["requisition_id"],
        supplier_id=row["supplier_id"],
        erp_invoice_id=row["erp_invoice_id"],
        tax=Decimal(row["tax"]),
        due_on=row["due_on"],
        credit_references=json.loads(row["credit_references"]),
        created_at=parse_ts(row["created_at"]),
    )
