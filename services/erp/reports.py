"""Figures for the daily report: the sales of a window, the stock and the customers as they are."""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime
from decimal import Decimal

from domain.erp import SalesOrderStatus
from domain.reports import ErpDayFigures, SkuSales, StockItem
from services.erp.errors import validation
from services.erp.store import Tx, format_ts, parse_ts


def day_figures(tx: Tx, start: datetime, end: datetime) -> ErpDayFigures:
    if end <= start:
        raise validation("end must be after start")
    rows = tx.all(
        "SELECT status, total, currency, lines FROM sales_orders"
        " WHERE order_date >= ? AND order_date < ?",
        (format_ts(start), format_ts(end)),
    )
    by_status: Counter[str] = Counter()
    revenue: dict[str, Decimal] = {}
    units: Counter[str] = Counter()
    amounts: dict[str, Decimal] = {}
    for row in rows:
        by_status[row["status"]] += 1
        if row["status"] == SalesOrderStatus.CANCELLED.value:
            continue
        revenue[row["currency"]] = revenue.get(row["currency"], Decimal(0)) + Decimal(row["total"])
        for line in json.loads(row["lines"]):
            units[line["sku"]] += int(line["quantity"])
            amount = Decimal(str(line["unit_price"])) * int(line["quantity"])
            amounts[line["sku"]] = amounts.get(line["sku"], Decimal(0)) + amount
    stock = tx.all("SELECT sku, name, on_hand, reserved FROM products ORDER BY sku")
    customers = tx.one("SELECT count(*) AS n, coalesce(sum(blocked), 0) AS b FROM customers")
    newest = {
        feed: tx.one(f"SELECT max(updated_at) AS latest FROM {table}")
        for feed, table in (("orders", "sales_orders"), ("customers", "customers"))
    }
    return ErpDayFigures(
        orders=len(rows),
        orders_by_status=dict(by_status),
        revenue=revenue,
        by_sku=[SkuSales(sku=sku, units=units[sku], revenue=amounts[sku]) for sku in sorted(units)],
        inventory=[
            StockItem(sku=r["sku"], name=r["name"], on_hand=r["on_hand"], reserved=r["reserved"])
            for r in stock
        ],
        customers=int(customers["n"]) if customers else 0,
        blocked_customers=int(customers["b"]) if customers else 0,
        newest_change={
            feed: parse_ts(row["latest"]) if row and row["latest"] else None
            for feed, row in newest.items()
        },
    )
