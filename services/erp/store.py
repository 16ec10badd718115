"""The ERP's SQLite file: schema, one serialized connection, transactions and the clock.

One connection behind one lock: SQLite has a single writer anyway, and holding the lock for a
whole transaction is what makes "look up the idempotency key, do the write, store the answer"
atomic, so two concurrent requests with the same key cannot both execute. Handlers call in
from worker threads, so a long transaction (the bulk generator) never blocks the event loop.

Timestamps are fixed-width UTC strings (`2025-01-31T12:00:00.000001Z`) so that text order is
time order, and they strictly increase across transactions (see `Clock`): the change feeds
page by (updated_at, id) and must never see a later commit slot in behind a cursor.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS customers (
    id INTEGER PRIMARY KEY,
    customer_id TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    email TEXT NOT NULL,
    company TEXT,
    credit_limit TEXT NOT NULL,
    blocked INTEGER NOT NULL DEFAULT 0,
    updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS customers_feed ON customers (updated_at, id);

CREATE TABLE IF NOT EXISTS products (
    sku TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    unit_price TEXT NOT NULL,
    on_hand INTEGER NOT NULL CHECK (on_hand >= 0),
    reserved INTEGER NOT NULL DEFAULT 0 CHECK (reserved >= 0),
    updated_at TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS reservations (
    id INTEGER PRIMARY KEY,
    reservation_id TEXT NOT NULL UNIQUE,
    order_id TEXT NOT NULL,
    status TEXT NOT NULL,
    lines TEXT NOT NULL,
    shipment_id TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS reservations_order ON reservations (order_id);

CREATE TABLE IF NOT EXISTS sales_orders (
    id INTEGER PRIMARY KEY,
    sales_order_id TEXT NOT NULL UNIQUE,
    order_id TEXT NOT NULL UNIQUE,
    customer_id TEXT NOT NULL REFERENCES customers (customer_id),
    status TEXT NOT NULL,
    total TEXT NOT NULL,
    currency TEXT NOT NULL,
    lines TEXT NOT NULL,
    order_date TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS sales_orders_feed ON sales_orders (updated_at, id);
CREATE INDEX IF NOT EXISTS sales_orders_customer ON sales_orders (customer_id, status);

CREATE TABLE IF NOT EXISTS payments (
    id INTEGER PRIMARY KEY,
    payment_id TEXT NOT NULL UNIQUE,
    order_id TEXT NOT NULL,
    amount TEXT NOT NULL,
    currency TEXT NOT NULL,
    method TEXT NOT NULL,
    reference TEXT,
    status TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS payments_order ON payments (order_id, status);

CREATE TABLE IF NOT EXISTS shipments (
    id INTEGER PRIMARY KEY,
    shipment_id TEXT NOT NULL UNIQUE,
    order_id TEXT NOT NULL,
    sales_order_id TEXT NOT NULL,
    status TEXT NOT NULL,
    tracking_number TEXT NOT NULL,
    address TEXT NOT NULL,
    lines TEXT NOT NULL,
    delivered_at TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS shipments_order ON shipments (order_id);

CREATE TABLE IF NOT EXISTS invoices (
    id INTEGER PRIMARY KEY,
    invoice_id TEXT NOT NULL UNIQUE,
    order_id TEXT NOT NULL,
    sales_order_id TEXT NOT NULL,
    amount TEXT NOT NULL,
    currency TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS invoices_order ON invoices (order_id);

CREATE TABLE IF NOT EXISTS suppliers (
    id INTEGER PRIMARY KEY,
    supplier_id TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    email TEXT,
    currency TEXT NOT NULL,
    status TEXT NOT NULL,
    new INTEGER NOT NULL DEFAULT 0,
    updated_at TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS purchase_orders (
    id INTEGER PRIMARY KEY,
    purchase_order_id TEXT NOT NULL UNIQUE,
    requisition_id TEXT NOT NULL UNIQUE,
    supplier_id TEXT NOT NULL REFERENCES suppliers (supplier_id),
    status TEXT NOT NULL,
    total TEXT NOT NULL,
    currency TEXT NOT NULL,
    lines TEXT NOT NULL,
    supplier_reference TEXT,
    reminders INTEGER NOT NULL DEFAULT 0,
    -- What the documents add up to, kept here for the change feed (see purchasing.refresh).
    received TEXT NOT NULL DEFAULT '0.00',
    invoiced TEXT NOT NULL DEFAULT '0.00',
    paid TEXT NOT NULL DEFAULT '0.00',
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS purchase_orders_feed ON purchase_orders (updated_at, id);

CREATE TABLE IF NOT EXISTS goods_receipts (
    id INTEGER PRIMARY KEY,
    erp_receipt_id TEXT NOT NULL UNIQUE,
    purchase_order_id TEXT NOT NULL REFERENCES purchase_orders (purchase_order_id),
    requisition_id TEXT NOT NULL,
    receipt_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    lines TEXT NOT NULL,
    received_at TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (purchase_order_id, receipt_id)
);
CREATE INDEX IF NOT EXISTS goods_receipts_requisition ON goods_receipts (requisition_id);

CREATE TABLE IF NOT EXISTS supplier_invoices (
    id INTEGER PRIMARY KEY,
    erp_invoice_id TEXT NOT NULL UNIQUE,
    purchase_order_id TEXT NOT NULL REFERENCES purchase_orders (purchase_order_id),
    requisition_id TEXT NOT NULL,
    supplier_id TEXT NOT NULL,
    reference TEXT NOT NULL,
    -- The reference without case, spaces or dashes: what the duplicate check compares.
    reference_key TEXT NOT NULL,
    kind TEXT NOT NULL,
    currency TEXT NOT NULL,
    issued_on TEXT NOT NULL,
    due_on TEXT NOT NULL,
    lines TEXT NOT NULL,
    net TEXT NOT NULL,
    tax TEXT NOT NULL,
    credits_reference TEXT,
    status TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS supplier_invoices_reference
    ON supplier_invoices (supplier_id, reference_key);
CREATE INDEX IF NOT EXISTS supplier_invoices_requisition ON supplier_invoices (requisition_id);

CREATE TABLE IF NOT EXISTS supplier_payments (
    id INTEGER PRIMARY KEY,
    payment_id TEXT NOT NULL UNIQUE,
    purchase_order_id TEXT NOT NULL REFERENCES purchase_orders (purchase_order_id),
    requisition_id TEXT NOT NULL,
    supplier_id TEXT NOT NULL,
    erp_invoice_id TEXT NOT NULL REFERENCES supplier_invoices (erp_invoice_id),
    invoice_reference TEXT NOT NULL,
    lines TEXT NOT NULL,
    amount TEXT NOT NULL,
    tax TEXT NOT NULL,
    currency TEXT NOT NULL,
    due_on TEXT NOT NULL,
    credit_references TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS supplier_payments_requisition ON supplier_payments (requisition_id);

-- One row per paid invoice line: the key makes paying a line twice impossible.
CREATE TABLE IF NOT EXISTS supplier_payment_lines (
    erp_invoice_id TEXT NOT NULL,
    line_no INTEGER NOT NULL,
    payment_id TEXT NOT NULL,
    PRIMARY KEY (erp_invoice_id, line_no)
);

CREATE TABLE IF NOT EXISTS idempotency_keys (
    key TEXT PRIMARY KEY,
    method TEXT NOT NULL,
    path TEXT NOT NULL,
    body_sha256 TEXT NOT NULL,
    status INTEGER NOT NULL,
    body BLOB NOT NULL,
    created_at TEXT NOT NULL
);
"""

_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
_TABLES_WITH_UPDATED_AT = (
    "customers",
    "products",
    "reservations",
    "sales_orders",
    "payments",
    "shipments",
    "invoices",
    "suppliers",
    "purchase_orders",
    "goods_receipts",
    "supplier_invoices",
    "supplier_payments",
)


def format_ts(moment: datetime) -> str:
    """The stored form of a moment; naive datetimes are taken as UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime(_FORMAT)


def consecutive_ts(first: datetime, count: int) -> Iterator[str]:
    """`format_ts` of `count` consecutive microseconds from `first`, formatting whole seconds
    once: the bulk generator stamps a million rows with it."""
    second = first.replace(microsecond=0)
    micro = first.microsecond
    prefix = format_ts(second)[:-7]
    for _ in range(count):
        if micro == 1_000_000:
            second, micro = second + timedelta(seconds=1), 0
            prefix = format_ts(second)[:-7]
        yield f"{prefix}{micro:06d}Z"
        micro += 1


def parse_ts(text: str) -> datetime:
    return datetime.strptime(text, _FORMAT).replace(tzinfo=UTC)


class Clock:
    """Wall-clock time that never repeats or goes back, even across a restart."""

    def __init__(self, last: datetime | None = None) -> None:
        self._last = last or datetime.min.replace(tzinfo=UTC)

    def tick(self, count: int = 1) -> datetime:
        """Reserves `count` consecutive microseconds; returns the first of them."""
        first = max(datetime.now(UTC), self._last + timedelta(microseconds=1))
        self._last = first + timedelta(microseconds=count - 1)
        return first


class Tx:
    """One transaction (or one read) on the connection, holding the lock while it lasts."""

    def __init__(self, conn: sqlite3.Connection, clock: Clock) -> None:
        self._conn = conn
        self._clock = clock
        self._now: str | None = None

    @property
    def now(self) -> str:
        """This transaction's timestamp: every row it touches gets the same one."""
        if self._now is None:
            self._now = format_ts(self._clock.tick())
        return self._now

    @property
    def clock(self) -> Clock:
        return self._clock

    def run(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        return self._conn.execute(sql, params)

    def run_many(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        self._conn.executemany(sql, rows)

    def one(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Row | None:
        row: sqlite3.Row | None = self._conn.execute(sql, params).fetchone()
        return row

    def all(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        return list(self._conn.execute(sql, params).fetchall())

    def next_id(self, table: str) -> int:
        """The rowid the next insert will get; safe because writers hold the lock."""
        row = self.one(f"SELECT COALESCE(MAX(id), 0) + 1 FROM {table}")
        assert row is not None
        return int(row[0])


class Database:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Autocommit mode: transactions are begun and ended explicitly below.
        self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._conn.row_factory = sqlite3.Row
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute("PRAGMA foreign_keys=ON")
        self._conn.execute("PRAGMA busy_timeout=5000")
        self._conn.executescript(SCHEMA)
        self._lock = threading.Lock()
        self.clock = Clock(self._latest_timestamp())

    def _latest_timestamp(self) -> datetime | None:
        # The first SELECT names the column for the whole UNION.
        union = " UNION ALL ".join(
            f"SELECT MAX(updated_at) AS latest FROM {table}" for table in _TABLES_WITH_UPDATED_AT
        )
        row = self._conn.execute(f"SELECT MAX(latest) FROM ({union})").fetchone()
        return parse_ts(row[0]) if row and row[0] else None

    @contextmanager
    def transaction(self) -> Iterator[Tx]:
        """A write transaction: all of it commits, or none of it (rolled back on any error)."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield Tx(self._conn, self.clock)
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    @contextmanager
    def reading(self) -> Iterator[Tx]:
        """Reads see a consistent state because no writer can run meanwhile."""
        with self._lock:
            yield Tx(self._conn, self.clock)

    def ping(self) -> None:
        with self.reading() as tx:
            tx.one("SELECT COUNT(*) FROM products")

    def close(self) -> None:
        with self._lock:
            self._conn.close()
