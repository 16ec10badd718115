"""Customers' credit and sales orders (one per order id).

Sales order states: open → invoiced (an invoice is posted) → open again (it is credited);
open → cancelled. Cancelling a cancelled order returns it; an invoiced one must be credited
first.

Exposure, the money a customer owes or will owe: the totals of their open or invoiced sales
orders that have no captured payment. Invoiced counts too, because an unpaid invoice is still
owed; a refunded payment puts its order back into the exposure.
"""

from __future__ import annotations

import json
import sqlite3
from decimal import Decimal

from domain.credit import CreditStatus
from domain.erp import SalesOrderStatus
from domain.orders.models import Order
from domain.orders.rules import describe, validate_order
from services.erp.errors import ErpError, business, invalid_state, not_found, validation
from services.erp.schemas import PricedItem, SalesOrderRecord, money
from services.erp.stock import merge
from services.erp.store import Tx, parse_ts

_EXPOSURE = """
SELECT total FROM sales_orders AS so
WHERE so.customer_id = ? AND so.status IN ('open', 'invoiced')
  AND NOT EXISTS (
    SELECT 1 FROM payments AS p WHERE p.order_id = so.order_id AND p.status = 'captured'
  )
"""


def customer(tx: Tx, customer_id: str) -> sqlite3.Row:
    row = tx.one("SELECT * FROM customers WHERE customer_id = ?", (customer_id,))
    if row is None:
        raise not_found("customer", customer_id)
    return row


def credit(tx: Tx, customer_id: str) -> CreditStatus:
    row = customer(tx, customer_id)
    totals = tx.all(_EXPOSURE, (customer_id,))
    exposure = sum((Decimal(t["total"]) for t in totals), Decimal(0))
    return CreditStatus(
        customer_id=customer_id,
        credit_limit=Decimal(row["credit_limit"]),
        exposure=money(exposure),
        blocked=bool(row["blocked"]),
    )


def create(tx: Tx, order: Order) -> SalesOrderRecord:
    if violations := validate_order(order):
        raise validation(describe(violations))
    buyer = customer(tx, order.customer.customer_id)
    if buyer["blocked"]:
        raise business("CustomerBlocked", f"customer {buyer['customer_id']} is blocked")
    existing = tx.one(
        "SELECT sales_order_id FROM sales_orders WHERE order_id = ?", [order.order_id]
    )
    if existing is not None:
        raise ErpError(
            409,
            "SalesOrderExists",
            f"order {order.order_id} already has sales order {existing['sales_order_id']}",
        )
    skus = list(merge(order.lines))
    marks = ",".join("?" * len(skus))
    known = {r["sku"] for r in tx.all(f"SELECT sku FROM products WHERE sku IN ({marks})", skus)}
    if missing := [sku for sku in skus if sku not in known]:
        raise not_found("product", ", ".join(missing))
    sales_order_id = f"SO-{tx.next_id('sales_orders'):06d}"
    lines = [
        PricedItem(sku=x.sku, quantity=x.quantity, unit_price=x.unit_price) for x in order.lines
    ]
    tx.run(
        "INSERT INTO sales_orders (sales_order_id, order_id, customer_id, status, total, currency,"
        " lines, order_date, updated_at) VALUES (?, ?, ?, 'open', ?, ?, ?, ?, ?)",
        (
            sales_order_id,
            order.order_id,
            order.customer.customer_id,
            str(money(order.total)),
            order.currency,
            json.dumps([line.model_dump(mode="json") for line in lines]),
            tx.now,
            tx.now,
        ),
    )
    return get(tx, sales_order_id)


def cancel(tx: Tx, sales_order_id: str) -> SalesOrderRecord:
    record = get(tx, sales_order_id)
    if record.status is SalesOrderStatus.CANCELLED:
        return record
    if record.status is SalesOrderStatus.INVOICED:
        raise invalid_state(
            "sales order", sales_order_id, "invoiced; credit its invoice first", "cancel"
        )
    set_status(tx, sales_order_id, SalesOrderStatus.CANCELLED)
    return get(tx, sales_order_id)


def set_status(tx: Tx, sales_order_id: str, status: SalesOrderStatus) -> None:
    tx.run(
        "UPDATE sales_orders SET status = ?, updated_at = ? WHERE sales_order_id = ?",
        (status.value, tx.now, sales_order_id),
    )


def get(tx: Tx, sales_order_id: str) -> SalesOrderRecord:
    row = tx.one("SELECT * FROM sales_orders WHERE sales_order_id = ?", (sales_order_id,))
    if row is None:
        raise not_found("sales order", sales_order_id)
    return _record(row)


def for_order(tx: Tx, sales_order_id: str, order_id: str) -> SalesOrderRecord:
    """The sales order, which must belong to `order_id` (a mix-up is a bug in the caller)."""
    record = get(tx, sales_order_id)
    if record.order_id != order_id:
        raise validation(
            f"sales_order_id: {sales_order_id} belongs to order {record.order_id}, not {order_id}"
        )
    return record


def find(tx: Tx, order_id: str) -> list[SalesOrderRecord]:
    rows = tx.all("SELECT * FROM sales_orders WHERE order_id = ? ORDER BY id", (order_id,))
    return [_record(row) for row in rows]


def _record(row: sqlite3.Row) -> SalesOrderRecord:
    return SalesOrderRecord(
        sales_order_id=row["sales_order_id"],
        order_id=row["order_id"],
        customer_id=row["customer_id"],
        status=SalesOrderStatus(row["status"]),
        total=Decimal(row["total"]),
        currency=row["currency"],
        lines=[PricedItem.model_validate(x) for x in json.loads(row["lines"])],
        order_date=parse_ts(row["order_date"]),
        updated_at=parse_ts(row["updated_at"]),
    )
