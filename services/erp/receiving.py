"""Goods receipts and returns against a purchase order: recorded → returned.

A receipt (or a return, `kind` return) is recorded once per warehouse number on an order: the
same number under another idempotency key is refused (409 ReceiptExists, naming the first).
`return_goods` undoes a document: the goods of a receipt go back to the supplier, and an
undone return counts no more; undoing an undone document returns it. Per line, what is
received (receipts less returns, in the purchase unit) never goes below zero, so a return of
more than was received, or undoing a receipt whose goods a later return already sent back, is
refused. A line in a unit the order cannot convert is recorded as it came and counts for
nothing here: the three-way match makes it an exception.

Receipts do not move the sales stock: what is bought need not be in the sales catalogue.
"""

from __future__ import annotations

import json
import sqlite3

from domain.erp import ErpReceiptStatus
from domain.purchasing.models import ReceiptKind, ReceiptLine
from services.erp import purchasing
from services.erp.errors import ErpError, business, not_found, validation
from services.erp.purchase_schemas import ErpReceiptRecord, GoodsReceiptRequest
from services.erp.store import Tx, format_ts, parse_ts


def record(tx: Tx, request: GoodsReceiptRequest) -> ErpReceiptRecord:
    order = purchasing.open_order(
        tx, request.purchase_order_id, request.requisition_id, "receive goods for"
    )
    lines = purchasing.order_lines(order)
    problems = [] if request.receipt_id.strip() else ["receipt_id: must not be empty"]
    if not request.lines:
        problems.append("lines: at least one line")
    for n, line in enumerate(request.lines):
        if line.line_no not in lines:
            problems.append(f"lines.{n}.line_no: the purchase order has no line {line.line_no}")
        if line.quantity <= 0:
            problems.append(f"lines.{n}.quantity: must be greater than 0")
    if problems:
        raise validation("; ".join(problems))
    earlier = tx.one(
        "SELECT erp_receipt_id FROM goods_receipts WHERE purchase_order_id = ? AND receipt_id = ?",
        (request.purchase_order_id, request.receipt_id),
    )
    if earlier is not None:
        raise ErpError(
            409,
            "ReceiptExists",
            f"receipt {request.receipt_id} is already recorded on purchase order"
            f" {request.purchase_order_id} as {earlier['erp_receipt_id']}",
        )
    erp_receipt_id = f"GR-{tx.next_id('goods_receipts'):06d}"
    tx.run(
        "INSERT INTO goods_receipts (erp_receipt_id, purchase_order_id, requisition_id,"
        " receipt_id, kind, status, lines, received_at, created_at, updated_at)"
        " VALUES (?, ?, ?, ?, ?, 'recorded', ?, ?, ?, ?)",
        (
            erp_receipt_id,
            request.purchase_order_id,
            request.requisition_id,
            request.receipt_id,
            request.kind.value,
            json.dumps([line.model_dump(mode="json") for line in request.lines]),
            format_ts(request.received_at) if request.received_at else None,
            tx.now,
            tx.now,
        ),
    )
    _require_nothing_negative(tx, request.purchase_order_id, f"record {request.receipt_id}")
    purchasing.refresh(tx, request.purchase_order_id)
    return get(tx, erp_receipt_id)


def return_goods(tx: Tx, erp_receipt_id: str) -> ErpReceiptRecord:
    receipt = get(tx, erp_receipt_id)
    if receipt.status is ErpReceiptStatus.RETURNED:
        return receipt
    tx.run(
        "UPDATE goods_receipts SET status = 'returned', updated_at = ? WHERE erp_receipt_id = ?",
        (tx.now, erp_receipt_id),
    )
    _require_nothing_negative(tx, receipt.purchase_order_id, f"undo {erp_receipt_id}")
    purchasing.refresh(tx, receipt.purchase_order_id)
    return get(tx, erp_receipt_id)


def _require_nothing_negative(tx: Tx, purchase_order_id: str, action: str) -> None:
    """Checked after the write, inside its transaction: a refusal rolls the write back."""
    received = purchasing.received_quantities(tx, purchase_order_id)
    if short := [f"line {n} ({qty})" for n, qty in received.items() if qty < 0]:
        raise business(
            "ReturnExceedsReceipts",
            f"cannot {action} on purchase order {purchase_order_id}: more would have gone back"
            f" than was received on {', '.join(short)}",
        )


def get(tx: Tx, erp_receipt_id: str) -> ErpReceiptRecord:
    row = tx.one("SELECT * FROM goods_receipts WHERE erp_receipt_id = ?", (erp_receipt_id,))
    if row is None:
        raise not_found("goods receipt", erp_receipt_id)
    return _record(row)


def find(tx: Tx, requisition_id: str) -> list[ErpReceiptRecord]:
    rows = tx.all(
        "SELECT * FROM goods_receipts WHERE requisition_id = ? ORDER BY id", (requisition_id,)
    )
    return [_record(row) for row in rows]


def _record(row: sqlite3.Row) -> ErpReceiptRecord:
    received_at = row["received_at"]
    return ErpReceiptRecord(
        erp_receipt_id=row["erp_receipt_id"],
        purchase_order_id=row["purchase_order_id"],
        receipt_id=row["receipt_id"],
        status=ErpReceiptStatus(row["status"]),
        requisition_id=row["requisition_id"],
        kind=ReceiptKind(row["kind"]),
        lines=[ReceiptLine.model_validate(x) for x in json.loads(row["lines"])],
        received_at=parse_ts(received_at) if received_at else None,
        created_at=parse_ts(row["created_at"]),
        updated_at=parse_ts(row["updated_at"]),
    )
