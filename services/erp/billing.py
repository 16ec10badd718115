"""Invoices: posted → credited.

Posting an invoice moves its sales order from open to invoiced; crediting it (a credit note
for the full amount) moves the order back to open, so that it can then be cancelled.
Crediting a credited invoice returns it.
"""

from __future__ import annotations

import sqlite3
from decimal import Decimal

from domain.erp import SalesOrderStatus
from services.erp import sales
from services.erp.errors import invalid_state, not_found
from services.erp.schemas import InvoiceRecord, InvoiceRequest
from services.erp.store import Tx, parse_ts


def create(tx: Tx, request: InvoiceRequest) -> InvoiceRecord:
    order = sales.for_order(tx, request.sales_order_id, request.order_id)
    if order.status is not SalesOrderStatus.OPEN:
        raise invalid_state("sales order", order.sales_order_id, order.status.value, "invoice")
    invoice_id = f"INV-{tx.next_id('invoices'):06d}"
    tx.run(
        "INSERT INTO invoices (invoice_id, order_id, sales_order_id, amount, currency, status,"
        " created_at, updated_at) VALUES (?, ?, ?, ?, ?, 'posted', ?, ?)",
        (
            invoice_id,
            order.order_id,
            order.sales_order_id,
            str(order.total),
            order.currency,
            tx.now,
            tx.now,
        ),
    )
    sales.set_status(tx, order.sales_order_id, SalesOrderStatus.INVOICED)
    return get(tx, invoice_id)


def credit(tx: Tx, invoice_id: str) -> InvoiceRecord:
    record = get(tx, invoice_id)
    if record.status == "credited":
        return record
    tx.run(
        "UPDATE invoices SET status = 'credited', updated_at = ? WHERE invoice_id = ?",
        (tx.now, invoice_id),
    )
    if sales.get(tx, record.sales_order_id).status is SalesOrderStatus.INVOICED:
        sales.set_status(tx, record.sales_order_id, SalesOrderStatus.OPEN)
    return get(tx, invoice_id)


def get(tx: Tx, invoice_id: str) -> InvoiceRecord:
    row = tx.one("SELECT * FROM invoices WHERE invoice_id = ?", (invoice_id,))
    if row is None:
        raise not_found("invoice", invoice_id)
    return _record(row)


def find(tx: Tx, order_id: str) -> list[InvoiceRecord]:
    rows = tx.all("SELECT * FROM invoices WHERE order_id = ? ORDER BY id", (order_id,))
    return [_record(row) for row in rows]


def _record(row: sqlite3.Row) -> InvoiceRecord:
    return InvoiceRecord(
        invoice_id=row["invoice_id"],
        order_id=row["order_id"],
        sales_order_id=row["sales_order_id"],
        amount=Decimal(row["amount"]),
        currency=row["currency"],
        status=row["status"],
        created_at=parse_ts(row["created_at"]),
        updated_at=parse_ts(row["updated_at"]),
    )
