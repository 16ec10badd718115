"""Payments: captured → refunded.

The reference ERP plays the payment provider too: a card needs a token as its reference, the
token `tok_declined` is declined, everything else is captured. Refunding a refunded payment
returns it.
"""

from __future__ import annotations

import sqlite3
from decimal import Decimal

from domain.orders.models import PaymentMethod
from services.erp.errors import business, not_found, validation
from services.erp.schemas import PaymentRecord, PaymentRequest, money
from services.erp.store import Tx, parse_ts

DECLINED_TOKEN = "tok_declined"


def capture(tx: Tx, request: PaymentRequest) -> PaymentRecord:
    if request.method is PaymentMethod.CARD and not request.reference:
        raise validation("reference: a card payment needs the card token as its reference")
    if request.reference == DECLINED_TOKEN:
        raise business(
            "PaymentDeclined",
            f"the card {request.reference} was declined for order {request.order_id}",
        )
    payment_id = f"PAY-{tx.next_id('payments'):06d}"
    tx.run(
        "INSERT INTO payments (payment_id, order_id, amount, currency, method, reference, status,"
        " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, 'captured', ?, ?)",
        (
            payment_id,
            request.order_id,
            str(money(request.amount)),
            request.currency,
            request.method.value,
            request.reference,
            tx.now,
            tx.now,
        ),
    )
    return get(tx, payment_id)


def refund(tx: Tx, payment_id: str) -> PaymentRecord:
    record = get(tx, payment_id)
    if record.status == "refunded":
        return record
    tx.run(
        "UPDATE payments SET status = 'refunded', updated_at = ? WHERE payment_id = ?",
        (tx.now, payment_id),
    )
    return get(tx, payment_id)


def get(tx: Tx, payment_id: str) -> PaymentRecord:
    row = tx.one("SELECT * FROM payments WHERE payment_id = ?", (payment_id,))
    if row is None:
        raise not_found("payment", payment_id)
    return _record(row)


def find(tx: Tx, order_id: str) -> list[PaymentRecord]:
    rows = tx.all("SELECT * FROM payments WHERE order_id = ? ORDER BY id", (order_id,))
    return [_record(row) for row in rows]


def _record(row: sqlite3.Row) -> PaymentRecord:
    return PaymentRecord(
        payment_id=row["payment_id"],
        order_id=row["order_id"],
        amount=Decimal(row["amount"]),
        currency=row["currency"],
        status=row["status"],
        method=PaymentMethod(row["method"]),
        reference=row["reference"],
        created_at=parse_ts(row["created_at"]),
        updated_at=parse_ts(row["updated_at"]),
    )
