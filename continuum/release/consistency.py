"""What a backup holds, in facts a restore can be checked against: the store's schema revision,
rows per table, the sync's watermarks, webhook receipts by state, the open quarantine and drift;
Temporal's running processes per type (the embedded SQLite file's visibility table).

After a restore the same facts are read from the restored state and compared; and the store's
own rules are checked again: one open quarantine entry per record, no accepted receipt without
its time.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

from pydantic import BaseModel
from sqlalchemy import Connection, func, inspect, select, text

from store.schema import sync_drift, sync_quarantine, sync_watermarks, webhook_receipts

# Temporal's visibility: status 1 is Running (server 1.32's SQLite schema); without the
# server's own housekeeping workflows.
_TEMPORAL_RUNNING = (
    "SELECT workflow_type_name, count(*) FROM executions_visibility WHERE status = 1"
    " AND workflow_type_name NOT LIKE 'temporal-sys-%' GROUP BY workflow_type_name"
)


class StoreFacts(BaseModel):
    revision: str | None
    rows: dict[str, int]
    watermarks: dict[str, str]  # feed → where it stands
    receipts: dict[str, int]  # state → how many
    open_quarantine: int
    open_drift: int


class TemporalFacts(BaseModel):
    running: dict[str, int]  # workflow type → running processes


class Check(BaseModel):
    name: str
    ok: bool
    detail: str


def store_facts(db: Connection) -> StoreFacts:
    tables = set(inspect(db).get_table_names())
    revision = None
    if "alembic_version" in tables:
        revision = db.execute(text("SELECT version_num FROM alembic_version")).scalar()
    rows = {
        name: int(db.execute(text(f'SELECT count(*) FROM "{name}"')).scalar() or 0)
        for name in sorted(tables - {"alembic_version"})
    }
    watermarks = {}
    if sync_watermarks.name in tables:
        w = sync_watermarks.c
        for row in db.execute(select(w.feed, w.position, w.synced_through, w.sync_id, w.page)):
            watermarks[row.feed] = (
                f"position {row.position}, synced through {row.synced_through},"
                f" page {row.page} of {row.sync_id}"
            )
    receipts: dict[str, int] = {}
    if webhook_receipts.name in tables:
        r = webhook_receipts.c
        for state, count in db.execute(select(r.state, func.count()).group_by(r.state)):
            receipts[state] = count
    return StoreFacts(
        revision=revision,
        rows=rows,
        watermarks=watermarks,
        receipts=receipts,
        open_quarantine=_open(db, tables, sync_quarantine.name),
        open_drift=_open(db, tables, sync_drift.name),
    )


def _open(db: Connection, tables: set[str], table: str) -> int:
    if table not in tables:
        return 0
    found = db.execute(text(f"SELECT count(*) FROM {table} WHERE status = 'open'")).scalar()
    return int(found or 0)


def store_rules(db: Connection) -> list[Check]:
    """The store's invariants, re-checked on what was restored."""
    q = sync_quarantine.c
    doubled = db.execute(
        select(q.source, q.target, q.record_id)
        .where(q.status == "open")
        .group_by(q.source, q.target, q.record_id)
        .having(func.count() > 1)
    ).all()
    r = webhook_receipts.c
    timeless = db.execute(
        select(func.count()).where(r.state == "accepted", r.accepted_at.is_(None))
    ).scalar()
    pending = db.execute(select(func.count()).where(r.state == "pending")).scalar() or 0
    return [
        Check(
            name="open quarantine",
            ok=not doubled,
            detail="one open entry per record"
            if not doubled
            else f"{len(doubled)} records have more than one open entry",
        ),
        Check(
            name="receipts",
            ok=not timeless,
            detail=(
                f"{pending} claims were in flight: a sender's retry takes them over after the lease"
                if pending
                else "every receipt accepted, none in flight"
            )
            if not timeless
            else f"{timeless} accepted receipts have no acceptance time",
        ),
    ]


def sqlite_integrity(path: Path, quick: bool = False) -> Check:
    pragma = "quick_check" if quick else "integrity_check"
    try:
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
            answer = [row[0] for row in db.execute(f"PRAGMA {pragma}")]
    except sqlite3.DatabaseError as err:
        return Check(name=f"{path.name} integrity", ok=False, detail=str(err))
    ok = answer == ["ok"]
    return Check(
        name=f"{path.name} integrity",
        ok=ok,
        detail="ok" if ok else "; ".join(answer[:3]),
    )


def temporal_facts(path: Path) -> TemporalFacts | None:
    """None when the file is not a Temporal 1.32 SQLite database we can read."""
    try:
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
            rows = db.execute(_TEMPORAL_RUNNING).fetchall()
    except sqlite3.DatabaseError:
        return None
    return TemporalFacts(running={str(t): int(n) for t, n in rows})


def compare(name: str, expected: object, found: object) -> Check:
    if expected == found:
        return Check(name=name, ok=True, detail="as backed up")
    return Check(name=name, ok=False, detail=f"backed up {expected}, restored {found}")


def compare_store(expected: StoreFacts, found: StoreFacts) -> list[Check]:
    return [
        compare("store schema", expected.revision, found.revision),
        compare("store rows", expected.rows, found.rows),
        compare("sync watermarks", expected.watermarks, found.watermarks),
        compare("webhook receipts", expected.receipts, found.receipts),
        compare("open quarantine entries", expected.open_quarantine, found.open_quarantine),
        compare("open drift entries", expected.open_drift, found.open_drift),
    ]
