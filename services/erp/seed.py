"""Demo data, and the bulk generator behind `POST /admin/generate` for benchmarks.

Demo customers (tests/samples.py and the demos rely on them):
  C-100 Ada Lovelace (ACME), C-101 Grace Hopper, C-104, C-105: ordinary customers;
  C-102 Tiny Shop: credit limit 500.00 (large orders need approval);
  C-103 Blocked Trading: blocked.
Demo products: SKU-001 … SKU-010 with 10,000 on hand each; SKU-011 with none.
Demo suppliers (EUR): SUP-100, SUP-101, SUP-102 active; SUP-103 blocked; SUP-104 new (not yet
approved). They are seeded on their own, so an ERP file from before purchasing gets them too, and
`generate` adds them when they are missing, so a benchmark or test ERP can always purchase.
"""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime, timedelta

from services.demo_data import DEMO_CUSTOMERS, DEMO_PRODUCTS, DEMO_SUPPLIERS
from services.erp.errors import validation
from services.erp.schemas import Generated
from services.erp.store import Tx, consecutive_ts

_CURRENCIES = ("EUR", "EUR", "EUR", "USD", "GBP", "CHF")
_STATUSES = ("open",) * 14 + ("invoiced",) * 5 + ("cancelled",)


def seed_demo(tx: Tx) -> bool:
    """Inserts the demo data unless the ERP holds any already (a restart keeps what it has)."""
    suppliers = _seed_suppliers(tx)
    row = tx.one("SELECT (SELECT COUNT(*) FROM customers) + (SELECT COUNT(*) FROM products)")
    if row is None or row[0]:
        return suppliers
    tx.run_many(
        "INSERT INTO customers (customer_id, name, email, company, credit_limit, blocked,"
        " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        [(*customer, tx.now) for customer in DEMO_CUSTOMERS],
    )
    tx.run_many(
        "INSERT INTO products (sku, name, unit_price, on_hand, reserved, updated_at)"
        " VALUES (?, ?, ?, ?, 0, ?)",
        [(*product, tx.now) for product in DEMO_PRODUCTS],
    )
    return True


def _seed_suppliers(tx: Tx) -> bool:
    """The demo suppliers, unless the ERP has suppliers already."""
    row = tx.one("SELECT COUNT(*) FROM suppliers")
    if row is None or row[0]:
        return False
    _insert_demo_suppliers(tx)
    return True


def _insert_demo_suppliers(tx: Tx) -> None:
    tx.run_many(
        "INSERT OR IGNORE INTO suppliers (supplier_id, name, email, currency, status, new,"
        " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        [(*supplier, tx.now) for supplier in DEMO_SUPPLIERS],
    )


def generate(tx: Tx, customers: int, orders: int, seed: int, suppliers: int = 0) -> Generated:
    """Synthetic customers and sales orders in the caller's single transaction.

    Rows are built with plain string formatting and inserted with `executemany`, so 100,000
    orders take a second or two. Each record gets its own microsecond of `updated_at`, so the
    change feeds page through them as through real traffic. Orders go to the new customers,
    or to the existing unblocked ones when no new customers are asked for. The demo suppliers
    are added when missing, and `suppliers` synthetic ones (active, EUR) after them.
    """
    started = time.perf_counter()
    rng = random.Random(seed)
    _insert_demo_suppliers(tx)
    base = tx.next_id("suppliers")
    tx.run_many(
        "INSERT INTO suppliers (supplier_id, name, email, currency, status, new, updated_at)"
        " VALUES (?, ?, ?, 'EUR', 'active', 0, ?)",
        [
            (f"GS-{base + i:07d}", f"Supplier GS-{base + i:07d}", None, tx.now)
            for i in range(suppliers)
        ],
    )
    stamps = consecutive_ts(tx.clock.tick(customers + orders), customers + orders)
    base = tx.next_id("customers")
    new_ids = [f"GC-{base + i:07d}" for i in range(customers)]
    tx.run_many(
        "INSERT INTO customers (customer_id, name, email, company, credit_limit, blocked,"
        " updated_at) VALUES (?, ?, ?, ?, ?, 0, ?)",
        (
            (
                cid,
                f"Customer {cid}",
                f"{cid.lower()}@example.com",
                f"Company {cid}",
                f"{rng.randrange(1_000, 200_000)}.00",
                next(stamps),
            )
            for cid in new_ids
        ),
    )
    buyers = new_ids or [
        str(r[0]) for r in tx.all("SELECT customer_id FROM customers WHERE blocked = 0")
    ]
    if orders and not buyers:
        raise validation("customers: no customer to place the orders; ask for some")
    base = tx.next_id("sales_orders")
    skus = [f"SKU-{n:03d}" for n in range(1, 11)]
    today = datetime.now(UTC).date()
    days = [(today - timedelta(days=d)).isoformat() for d in range(90)]
    draw = rng.random

    def order_row(n: int) -> tuple[str, ...]:
        cents = 1_000 + int(draw() * 499_000)
        total = f"{cents // 100}.{cents % 100:02d}"
        sku = skus[int(draw() * len(skus))]
        second = int(draw() * 86_400)
        placed = f"{days[int(draw() * 90)]}T{second // 3600:02d}:{second // 60 % 60:02d}:"
        return (
            f"SO-{n:06d}",
            f"GO-{n:08d}",
            buyers[int(draw() * len(buyers))],
            _STATUSES[int(draw() * len(_STATUSES))],
            total,
            _CURRENCIES[int(draw() * len(_CURRENCIES))],
            f'[{{"sku": "{sku}", "quantity": 1, "unit_price": "{total}"}}]',
            f"{placed}{second % 60:02d}.000000Z",
            next(stamps),
        )

    tx.run_many(
        "INSERT INTO sales_orders (sales_order_id, order_id, customer_id, status, total,"
        " currency, lines, order_date, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (order_row(base + i) for i in range(orders)),
    )
    elapsed = time.perf_counter() - started
    return Generated(
        customers=customers, orders=orders, suppliers=suppliers, seconds=round(elapsed, 3)
    )
