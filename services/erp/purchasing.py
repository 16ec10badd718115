"""Suppliers and purchase orders (one per requisition).

Purchase order states: sent (created and sent to the supplier) → confirmed (the supplier's
reference) → cancelled; sent → cancelled. Reminders go out while it is sent, each counted once
(per idempotency key); reminding a confirmed or cancelled order sends nothing and returns it,
since a reminder racing a confirmation is no error. Cancelling needs its goods returned and its
invoices cancelled first; cancelling a cancelled order returns it.

The order keeps what its documents add up to (received, invoiced, paid), refreshed by every
document write, so that the purchase change feed reads one row per order.
"""

from __future__ import annotations

import json
import sqlite3
from decimal import Decimal

from domain.purchasing.models import (
    DocumentKind,
    PurchaseOrderStatus,
    ReceiptKind,
    ReceiptLine,
    Requisition,
    RequisitionLine,
    SupplierStatus,
)
from services.erp.errors import ErpError, business, invalid_state, not_found, validation
from services.erp.purchase_schemas import (
    PurchaseDocuments,
    PurchaseOrderRecord,
    SupplierRecord,
)
from services.erp.schemas import money
from services.erp.store import Tx, parse_ts

_CURRENCY_LENGTH = 3
CREDIT_NOTE = DocumentKind.CREDIT_NOTE.value


# --- suppliers ---------------------------------------------------------------------------------


def supplier(tx: Tx, supplier_id: str) -> SupplierRecord:
    row = tx.one("SELECT * FROM suppliers WHERE supplier_id = ?", (supplier_id,))
    if row is None:
        raise not_found("supplier", supplier_id)
    return SupplierRecord(
        supplier_id=row["supplier_id"],
        name=row["name"],
        currency=row["currency"],
        status=SupplierStatus(row["status"]),
        new=bool(row["new"]),
        email=row["email"],
        updated_at=parse_ts(row["updated_at"]),
    )


def suppliers(tx: Tx) -> list[SupplierRecord]:
    rows = tx.all("SELECT supplier_id FROM suppliers ORDER BY id")
    return [supplier(tx, row["supplier_id"]) for row in rows]


# --- purchase orders ---------------------------------------------------------------------------


def _problems(requisition: Requisition) -> list[str]:
    """What the ERP needs of a requisition to order it (the workflow checked more already)."""
    problems = []
    if not requisition.requisition_id.strip():
        problems.append("requisition_id: must not be empty")
    currency = requisition.currency
    if len(currency) != _CURRENCY_LENGTH or not currency.isalpha() or not currency.isupper():
        problems.append("currency: an ISO 4217 code of three capital letters, e.g. EUR")
    if not requisition.lines:
        problems.append("lines: at least one line")
    seen: set[int] = set()
    for n, line in enumerate(requisition.lines):
        if line.line_no in seen:
            problems.append(f"lines.{n}.line_no: {line.line_no} appears twice")
        seen.add(line.line_no)
        if line.quantity <= 0:
            problems.append(f"lines.{n}.quantity: must be greater than 0")
        if line.expected_price < 0:
            problems.append(f"lines.{n}.expected_price: must not be negative")
        if any(factor <= 0 for factor in line.conversions.values()):
            problems.append(f"lines.{n}.conversions: factors must be greater than 0")
    return problems


def create(tx: Tx, requisition: Requisition) -> PurchaseOrderRecord:
    if problems := _problems(requisition):
        raise validation("; ".join(problems))
    seller = supplier(tx, requisition.supplier_id)
    if seller.status is SupplierStatus.BLOCKED:
        raise business("SupplierBlocked", f"supplier {seller.supplier_id} is blocked")
    existing = tx.one(
        "SELECT purchase_order_id FROM purchase_orders WHERE requisition_id = ?",
        (requisition.requisition_id,),
    )
    if existing is not None:
        raise ErpError(
            409,
            "PurchaseOrderExists",
            f"requisition {requisition.requisition_id} already has purchase order"
            f" {existing['purchase_order_id']}",
        )
    purchase_order_id = f"PO-{tx.next_id('purchase_orders'):06d}"
    tx.run(
        "INSERT INTO purchase_orders (purchase_order_id, requisition_id, supplier_id, status,"
        " total, currency, lines, created_at, updated_at) VALUES (?, ?, ?, 'sent', ?, ?, ?, ?, ?)",
        (
            purchase_order_id,
            requisition.requisition_id,
            seller.supplier_id,
            str(money(requisition.total)),
            requisition.currency,
            json.dumps([line.model_dump(mode="json") for line in requisition.lines]),
            tx.now,
            tx.now,
        ),
    )
    return get(tx, purchase_order_id)


def confirm(tx: Tx, purchase_order_id: str, supplier_reference: str) -> PurchaseOrderRecord:
    """The same confirmation again returns the order; another reference is refused."""
    record = get(tx, purchase_order_id)
    reference = supplier_reference.strip() or None
    if record.status is PurchaseOrderStatus.CONFIRMED:
        if reference is None or reference == record.supplier_reference:
            return record
        raise ErpError(
            422,
            "InvalidState",
            f"purchase order {purchase_order_id} is confirmed with supplier reference"
            f" {record.supplier_reference}, not {reference}",
        )
    if record.status is PurchaseOrderStatus.CANCELLED:
        raise invalid_state("purchase order", purchase_order_id, "cancelled", "confirm")
    tx.run(
        "UPDATE purchase_orders SET status = 'confirmed', supplier_reference = ?, updated_at = ?"
        " WHERE purchase_order_id = ?",
        (reference, tx.now, purchase_order_id),
    )
    return get(tx, purchase_order_id)


def remind(tx: Tx, purchase_order_id: str) -> PurchaseOrderRecord:
    record = get(tx, purchase_order_id)
    if record.status is PurchaseOrderStatus.SENT:
        tx.run(
            "UPDATE purchase_orders SET reminders = reminders + 1, updated_at = ?"
            " WHERE purchase_order_id = ?",
            (tx.now, purchase_order_id),
        )
    return get(tx, purchase_order_id)


def cancel(tx: Tx, purchase_order_id: str) -> PurchaseOrderRecord:
    record = get(tx, purchase_order_id)
    if record.status is PurchaseOrderStatus.CANCELLED:
        return record
    received = tx.one(
        "SELECT erp_receipt_id FROM goods_receipts WHERE purchase_order_id = ?"
        " AND status = 'recorded' ORDER BY id LIMIT 1",
        (purchase_order_id,),
    )
    if received is not None:
        state = f"holding goods receipt {received['erp_receipt_id']}; return the goods first"
        raise invalid_state("purchase order", purchase_order_id, state, "cancel")
    posted = tx.one(
        "SELECT erp_invoice_id FROM supplier_invoices WHERE purchase_order_id = ?"
        " AND status = 'posted' ORDER BY id LIMIT 1",
        (purchase_order_id,),
    )
    if posted is not None:
        state = f"invoiced by {posted['erp_invoice_id']}; cancel the invoice first"
        raise invalid_state("purchase order", purchase_order_id, state, "cancel")
    tx.run(
        "UPDATE purchase_orders SET status = 'cancelled', updated_at = ?"
        " WHERE purchase_order_id = ?",
        (tx.now, purchase_order_id),
    )
    return get(tx, purchase_order_id)


def open_order(tx: Tx, purchase_order_id: str, requisition_id: str, action: str) -> sqlite3.Row:
    """The order's row for a document to be recorded against: it must belong to the
    requisition the document names and must not be cancelled."""
    row = _row(tx, purchase_order_id)
    if row["requisition_id"] != requisition_id:
        raise validation(
            f"requisition_id: purchase order {purchase_order_id} belongs to requisition"
            f" {row['requisition_id']}, not {requisition_id}"
        )
    if row["status"] == PurchaseOrderStatus.CANCELLED.value:
        raise invalid_state("purchase order", purchase_order_id, "cancelled", action)
    return row


def order_lines(row: sqlite3.Row) -> dict[int, RequisitionLine]:
    return {
        line.line_no: line
        for line in (RequisitionLine.model_validate(x) for x in json.loads(row["lines"]))
    }


def in_purchase_unit(line: RequisitionLine, quantity: Decimal, unit: str | None) -> Decimal | None:
    """`quantity` of `unit` in the line's purchase unit; None for a unit it cannot convert
    (recorded as it came: the three-way match makes it an exception)."""
    if unit is None or unit == line.unit:
        return quantity
    factor = line.conversions.get(unit)
    return quantity * factor if factor is not None else None


def received_quantities(tx: Tx, purchase_order_id: str) -> dict[int, Decimal]:
    """Per line, what the recorded receipts less the recorded returns add up to."""
    lines = order_lines(_row(tx, purchase_order_id))
    rows = tx.all(
        "SELECT kind, lines FROM goods_receipts"
        " WHERE purchase_order_id = ? AND status = 'recorded'",
        (purchase_order_id,),
    )
    totals = dict.fromkeys(lines, Decimal(0))
    for row in rows:
        sign = -1 if row["kind"] == ReceiptKind.RETURN.value else 1
        for item in _receipt_lines(row["lines"]):
            line = lines.get(item.line_no)
            quantity = in_purchase_unit(line, item.quantity, item.unit) if line else None
            if quantity is not None:
                totals[item.line_no] += sign * quantity
    return totals


def refresh(tx: Tx, purchase_order_id: str) -> None:
    """Re-adds the order's documents into its received/invoiced/paid, and marks it changed."""
    lines = order_lines(_row(tx, purchase_order_id))
    quantities = received_quantities(tx, purchase_order_id)
    received = sum((qty * lines[n].expected_price for n, qty in quantities.items()), Decimal(0))
    invoices = tx.all(
        "SELECT kind, net FROM supplier_invoices WHERE purchase_order_id = ? AND status = 'posted'",
        (purchase_order_id,),
    )
    invoiced = sum(
        (Decimal(r["net"]) * (-1 if r["kind"] == CREDIT_NOTE else 1) for r in invoices),
        Decimal(0),
    )
    payments = tx.all(
        "SELECT amount FROM supplier_payments WHERE purchase_order_id = ?", (purchase_order_id,)
    )
    paid = sum((Decimal(r["amount"]) for r in payments), Decimal(0))
    tx.run(
        "UPDATE purchase_orders SET received = ?, invoiced = ?, paid = ?, updated_at = ?"
        " WHERE purchase_order_id = ?",
        (str(money(received)), str(money(invoiced)), str(money(paid)), tx.now, purchase_order_id),
    )


def _receipt_lines(stored: str) -> list[ReceiptLine]:
    return [ReceiptLine.model_validate(x) for x in json.loads(stored)]


def _row(tx: Tx, purchase_order_id: str) -> sqlite3.Row:
    row = tx.one("SELECT * FROM purchase_orders WHERE purchase_order_id = ?", (purchase_order_id,))
    if row is None:
        raise not_found("purchase order", purchase_order_id)
    return row


def get(tx: Tx, purchase_order_id: str) -> PurchaseOrderRecord:
    return _record(_row(tx, purchase_order_id))


def find(tx: Tx, requisition_id: str) -> list[PurchaseOrderRecord]:
    rows = tx.all(
        "SELECT * FROM purchase_orders WHERE requisition_id = ? ORDER BY id", (requisition_id,)
    )
    return [_record(row) for row in rows]


def documents(tx: Tx, requisition_id: str) -> PurchaseDocuments:
    def count(table: str) -> int:
        row = tx.one(f"SELECT COUNT(*) FROM {table} WHERE requisition_id = ?", (requisition_id,))
        return int(row[0]) if row else 0

    reminders = tx.one(
        "SELECT COALESCE(SUM(reminders), 0) FROM purchase_orders WHERE requisition_id = ?",
        (requisition_id,),
    )
    return PurchaseDocuments(
        requisition_id=requisition_id,
        purchase_orders=count("purchase_orders"),
        receipts=count("goods_receipts"),
        invoices=count("supplier_invoices"),
        payments=count("supplier_payments"),
        reminders=int(reminders[0]) if reminders else 0,
    )


def _record(row: sqlite3.Row) -> PurchaseOrderRecord:
    return PurchaseOrderRecord(
        purchase_order_id=row["purchase_order_id"],
        requisition_id=row["requisition_id"],
        supplier_id=row["supplier_id"],
        status=PurchaseOrderStatus(row["status"]),
        total=Decimal(row["total"]),
        currency=row["currency"],
        supplier_reference=row["supplier_reference"],
        lines=list(order_lines(row).values()),
        reminders=int(row["reminders"]),
        received=Decimal(row["received"]),
        invoiced=Decimal(row["invoiced"]),
        paid=Decimal(row["paid"]),
        created_at=parse_ts(row["created_at"]),
        updated_at=parse_ts(row["updated_at"]),
    )
