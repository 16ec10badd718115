"""Today's SQLite files carried into the store, once: the sync's `sync.db` (watermarks,
quarantine, drift) and the gateway's `gateway.db` (webhook receipts).

Each file is recognised by its tables and imported in one transaction that also records it in
`legacy_imports`; that row, claimed first with ON CONFLICT DO NOTHING, is what makes the import
happen once when a worker and a gateway start together. Rows the store already holds win. The
file is then renamed `<name>.imported` (kept, never deleted: it is the user's backup).
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql import text

from store.schema import (
    legacy_imports,
    sync_drift,
    sync_quarantine,
    sync_watermarks,
    webhook_receipts,
)

log = logging.getLogger("continuum.store")

Begin = Callable[[], contextlib.AbstractContextManager[Connection]]

IMPORTED_SUFFIX = ".imported"


def _insert(connection: Connection, table: Table) -> postgresql.Insert | sqlite.Insert:
    if connection.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def _moment(value: str | None) -> datetime | None:
    if not value:
        return None
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _kind(tables: set[str]) -> str | None:
    if {"watermarks", "quarantine", "drift"} <= tables:
        return "sync"
    if "receipts" in tables:
        return "gateway"
    return None


def _read(path: Path) -> tuple[str | None, dict[str, list[dict[str, Any]]]]:
    # A plain (read-write) connection, so that rows still in the file's WAL are read too.
    with contextlib.closing(sqlite3.connect(path)) as db:
        db.row_factory = sqlite3.Row
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        kind = _kind(tables)
        wanted = {"sync": ("watermarks", "quarantine", "drift"), "gateway": ("receipts",)}
        rows = {
            table: [dict(r) for r in db.execute(f"SELECT * FROM {table} ORDER BY rowid")]
            for table in wanted.get(kind or "", ())
        }
    return kind, rows


def _sync_rows(connection: Connection, rows: dict[str, list[dict[str, Any]]]) -> int:
    marks = [
        {
            **r,
            "position": _moment(r["position"]),
            "synced_through": _moment(r["synced_through"]),
            "acknowledged_at": _moment(r["acknowledged_at"]),
        }
        for r in rows["watermarks"]
    ]
    if marks:
        connection.execute(_insert(connection, sync_watermarks).on_conflict_do_nothing(), marks)
    count = len(marks)
    entries = [
        {
            **{k: v for k, v in r.items() if k != "id"},  # the store numbers its own entries
            "record_updated_at": _moment(r["record_updated_at"]),
            "first_seen": _moment(r["first_seen"]),
            "last_seen": _moment(r["last_seen"]),
            "resolved_at": _moment(r["resolved_at"]),
        }
        for r in rows["quarantine"]
    ]
    count += _insert_keeping_open(connection, sync_quarantine, entries)
    drift = [
        {
            **{k: v for k, v in r.items() if k != "id"},
            "record_updated_at": _moment(r["record_updated_at"]),
            "found_at": _moment(r["found_at"]),
            "repaired_at": _moment(r["repaired_at"]),
        }
        for r in rows["drift"]
    ]
    return count + _insert_keeping_open(connection, sync_drift, drift)


def _insert_keeping_open(connection: Connection, table: Table, rows: list[dict[str, Any]]) -> int:
    """Closed entries are history, copied; an open one yields to the store's open entry."""
    closed = [r for r in rows if r["status"] != "open"]
    opened = [r for r in rows if r["status"] == "open"]
    if closed:
        connection.execute(table.insert(), closed)
    if opened:
        connection.execute(
            _insert(connection, table).on_conflict_do_nothing(
                index_elements=["source", "target", "record_id"],
                index_where=text("status = 'open'"),
            ),
            opened,
        )
    return len(rows)


def _gateway_rows(connection: Connection, rows: dict[str, list[dict[str, Any]]]) -> int:
    receipts = rows["receipts"]
    if receipts:
        connection.execute(_insert(connection, webhook_receipts).on_conflict_do_nothing(), receipts)
    return len(receipts)


def _set_aside(path: Path) -> Path:
    target = path.with_name(path.name + IMPORTED_SUFFIX)
    n = 1
    while target.exists():
        n += 1
        target = path.with_name(f"{path.name}{IMPORTED_SUFFIX}-{n}")
    path.rename(target)
    for side in ("-wal", "-shm"):  # left behind only if a process still had it open
        with contextlib.suppress(FileNotFoundError):
            Path(f"{path}{side}").rename(f"{target}{side}")
    return target


def carry_in(begin: Begin, paths: Sequence[Path]) -> None:
    """Imports each of today's files found at `paths` that this store has not imported yet."""
    for path in dict.fromkeys(p.resolve() for p in paths):
        if not path.is_file():
            continue
        kind, rows = _read(path)
        if kind is None:
            log.warning("store: %s is not a file Continuum wrote; left alone", path)
            continue
        with begin() as connection:
            claimed = connection.execute(
                _insert(connection, legacy_imports)
                .values(kind=kind, path=str(path), imported_at=datetime.now(UTC), rows=0)
                .on_conflict_do_nothing()
                .returning(legacy_imports.c.kind)
            ).first()
            imported = None
            if claimed is not None:
                fill = _sync_rows if kind == "sync" else _gateway_rows
                imported = fill(connection, rows)
                connection.execute(
                    legacy_imports.update()
                    .where(legacy_imports.c.kind == kind)
                    .values(rows=imported)
                )
        try:
            aside = _set_aside(path)
        except FileNotFoundError:
            continue  # another process starting at the same moment set it aside first
        except OSError as err:
            log.warning("store: %s imported, but could not be renamed: %s", path, err)
            continue
        if imported is None:
            log.warning("store: %s was imported before; set aside as %s", path, aside)
        else:
            log.info("store: %d rows of %s imported; the file is kept as %s", imported, path, aside)
