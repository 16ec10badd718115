"""Change feeds (the ERP→CRM sync, purchasing reports): records ordered by (updated_at, id),
paged by keyset.

A cursor is the opaque (updated_at, id) of the last record of a page. Because timestamps
strictly increase across transactions, a record changed while a reader pages through the
feed moves behind the cursor's position and shows up again, with its new state, on a later
page: nothing is skipped, and a record no one changed is seen exactly once.
"""

from __future__ import annotations

import base64
import binascii
import json
import sqlite3
from datetime import datetime
from decimal import Decimal

from domain.erp import (
    CustomerChange,
    CustomerChangePage,
    OrderChange,
    OrderChangePage,
    PurchaseChange,
    PurchaseChangePage,
    SalesOrderStatus,
)
from services.erp.errors import validation
from services.erp.store import Tx, format_ts, parse_ts

_ORDERS = """
SELECT so.id, so.order_id, so.customer_id, c.name AS customer_name, so.order_date, so.status,
       so.total, so.currency, so.updated_at
FROM sales_orders AS so JOIN customers AS c ON c.customer_id = so.customer_id
WHERE (so.updated_at, so.id) > (?, ?)
ORDER BY so.updated_at, so.id
LIMIT ?
"""

_CUSTOMERS = """
SELECT id, customer_id, name, email, company, credit_limit, updated_at
FROM customers
WHERE (updated_at, id) > (?, ?)
ORDER BY updated_at, id
LIMIT ?
"""

# A purchase order changes with each of its documents (see purchasing.refresh).
_PURCHASES = """
SELECT id, purchase_order_id, requisition_id, supplier_id, status, total, received, invoiced,
       paid, currency, updated_at
FROM purchase_orders
WHERE (updated_at, id) > (?, ?)
ORDER BY updated_at, id
LIMIT ?
"""


def encode_cursor(updated_at: str, row_id: int) -> str:
    return base64.urlsafe_b64encode(json.dumps([updated_at, row_id]).encode()).decode()


def _start(updated_since: datetime | None, cursor: str | None) -> tuple[str, int]:
    """Where a page starts: after the cursor, else at `updated_since` (inclusive)."""
    if cursor:
        try:
            updated_at, row_id = json.loads(base64.urlsafe_b64decode(cursor.encode()))
            parse_ts(updated_at)
            return str(updated_at), int(row_id)
        except (ValueError, TypeError, binascii.Error):
            raise validation("cursor: not a cursor this feed returned") from None
    if updated_since is not None:
        return format_ts(updated_since), 0
    return "", 0


def _page(
    tx: Tx, sql: str, updated_since: datetime | None, cursor: str | None, limit: int
) -> tuple[list[sqlite3.Row], str | None]:
    """One page of a feed's rows, and the cursor of the next page (None: the feed's end)."""
    rows = tx.all(sql, (*_start(updated_since, cursor), limit + 1))
    last = rows[limit - 1] if len(rows) > limit else None
    return rows[:limit], encode_cursor(last["updated_at"], last["id"]) if last else None


def order_changes(
    tx: Tx, updated_since: datetime | None, cursor: str | None, limit: int
) -> OrderChangePage:
    rows, next_cursor = _page(tx, _ORDERS, updated_since, cursor, limit)
    items = [
        OrderChange(
            order_id=row["order_id"],
            customer_id=row["customer_id"],
            customer_name=row["customer_name"],
            order_date=parse_ts(row["order_date"]),
            status=SalesOrderStatus(row["status"]),
            total=Decimal(row["total"]),
            currency=row["currency"],
            updated_at=parse_ts(row["updated_at"]),
        )
        for row in rows
    ]
    return OrderChangePage(items=items, next_cursor=next_cursor)


def customer_changes(
    tx: Tx, updated_since: datetime | None, cursor: str | None, limit: int
) -> CustomerChangePage:
    rows, next_cursor = _page(tx, _CUSTOMERS, updated_since, cursor, limit)
    items = [
        CustomerChange(
            customer_id=row["customer_id"],
            name=row["name"],
            email=row["email"],
            company=row["company"],
            credit_limit=Decimal(row["credit_limit"]),
            updated_at=parse_ts(row["updated_at"]),
        )
        for row in rows
    ]
    return CustomerChangePage(items=items, next_cursor=next_cursor)


def purchase_changes(
    tx: Tx, updated_since: datetime | None, cursor: str | None, limit: int
) -> PurchaseChangePage:
    rows, next_cursor = _page(tx, _PURCHASES, updated_since, cursor, limit)
    items = [
        PurchaseChange(
            purchase_order_id=row["purchase_order_id"],
            requisition_id=row["requisition_id"],
            supplier_id=row["supplier_id"],
            status=row["status"],
            total=Decimal(row["total"]),
            received=Decimal(row["received"]),
            invoiced=Decimal(row["invoiced"]),
            paid=Decimal(row["paid"]),
            currency=row["currency"],
            updated_at=parse_ts(row["updated_at"]),
        )
        for row in rows
    ]
    return PurchaseChangePage(items=items, next_cursor=next_cursor)
