"""The ERP→CRM sync's own state in a SQLite file: per-feed watermarks, the quarantine, and the
drift reconciliation found (for the next run to repair).

A watermark moves only in `acknowledge`, after the CRM acknowledged a page, in the same
transaction that files the page's bad records and resolves the entries of records that now
went through: a crash leaves either all of a page's bookkeeping or none of it. The same record
quarantined twice is one open entry, updated (`times` counts the sightings).

Synchronous and small on purpose: the worker's activities, the CLI and the reports read it.
WAL mode, so readers never wait for the sync's writes.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from domain.sync.mapping import Rejected
from domain.sync.models import DriftEntry, QuarantineEntry, Watermark

_SCHEMA = """
CREATE TABLE IF NOT EXISTS watermarks (
    feed TEXT PRIMARY KEY,
    cursor TEXT,
    position TEXT,
    synced_through TEXT,
    acknowledged_at TEXT,
    -- The last page acknowledged: which sync, which page, and what it did (JSON).
    sync_id TEXT,
    page INTEGER,
    page_result TEXT
);
CREATE TABLE IF NOT EXISTS quarantine (
    id INTEGER PRIMARY KEY,
    source TEXT NOT NULL,
    target TEXT NOT NULL,
    record_id TEXT NOT NULL,
    field TEXT NOT NULL,
    reason TEXT NOT NULL,
    record TEXT NOT NULL,
    record_updated_at TEXT,
    first_seen TEXT NOT NULL,
    last_seen TEXT NOT NULL,
    times INTEGER NOT NULL DEFAULT 1,
    status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'resolved')),
    resolved_at TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS quarantine_open
    ON quarantine (source, target, record_id) WHERE status = 'open';
CREATE TABLE IF NOT EXISTS drift (
    id INTEGER PRIMARY KEY,
    source TEXT NOT NULL,
    target TEXT NOT NULL,
    record_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    record_updated_at TEXT,
    found_at TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'repaired')),
    repaired_at TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS drift_open
    ON drift (source, target, record_id) WHERE status = 'open';
"""


def _ts(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    # Fixed width, so that text order is time order (isoformat drops zero microseconds).
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")


def _moment(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _record_updated_at(record: dict[str, Any]) -> str | None:
    value = record.get("updated_at")
    if isinstance(value, datetime):
        return _ts(value)
    if isinstance(value, str) and value:
        try:
            return _ts(datetime.fromisoformat(value.replace("Z", "+00:00")))
        except ValueError:
            return None
    return None


class SyncStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    # -- connection --------------------------------------------------------------------------

    def _db(self) -> sqlite3.Connection:
        """Opened on first use, so that building a worker does not touch the disk."""
        if self._conn is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            # NORMAL: a power cut may lose the last commits, never corrupt the file. A lost
            # watermark means a page is read and upserted again, which changes nothing.
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=10000")
            conn.executescript(_SCHEMA)
            self._conn = conn
        return self._conn

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            db = self._db()
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    def _read(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return list(self._db().execute(sql, params).fetchall())

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    # -- what the reports read ---------------------------------------------------------------

    def quarantine_size(self) -> int:
        """Open quarantine entries."""
        rows = self._read("SELECT COUNT(*) FROM quarantine WHERE status = 'open'")
        return int(rows[0][0])

    def last_synced_through(self, feed: str) -> datetime | None:
        """The updated_at of the last acknowledged record of `feed` ("orders", "customers")."""
        return self.watermark(feed).synced_through

    # -- watermarks --------------------------------------------------------------------------

    def watermark(self, feed: str) -> Watermark:
        rows = self._read("SELECT * FROM watermarks WHERE feed = ?", (feed,))
        if not rows:
            return Watermark(feed=feed)
        row = rows[0]
        return Watermark(
            feed=feed,
            cursor=row["cursor"],
            position=_moment(row["position"]),
            synced_through=_moment(row["synced_through"]),
            acknowledged_at=_moment(row["acknowledged_at"]),
        )

    def watermarks(self) -> list[Watermark]:
        feeds = [str(r["feed"]) for r in self._read("SELECT feed FROM watermarks ORDER BY feed")]
        return [self.watermark(feed) for feed in feeds]

    def acknowledged_page(self, feed: str, sync_id: str, page: int) -> str | None:
        """The stored result (JSON) when this page of this sync was acknowledged already."""
        rows = self._read(
            "SELECT page_result FROM watermarks WHERE feed = ? AND sync_id = ? AND page = ?",
            (feed, sync_id, page),
        )
        return str(rows[0][0]) if rows else None

    def acknowledge(
        self,
        feed: str,
        *,
        cursor: str | None,
        position: datetime | None,
        sync_id: str,
        page: int,
        page_result: str,
        rejected: Sequence[Rejected] = (),
        accepted: dict[str, list[str]] | None = None,
    ) -> None:
        """After the CRM acknowledged a page: its bad records into the quarantine, the open
        entries of records that went through resolved, and the watermark moved; at once."""
        now = _now()
        with self._write() as db:
            self._quarantine(db, rejected, now)
            for target, ids in (accepted or {}).items():
                self._resolve_keys(db, feed, target, ids, now)
            row = db.execute(
                "SELECT synced_through FROM watermarks WHERE feed = ?", (feed,)
            ).fetchone()
            through = max((t for t in (row[0] if row else None, _ts(position)) if t), default=None)
            db.execute(
                "INSERT INTO watermarks (feed, cursor, position, synced_through, acknowledged_at,"
                " sync_id, page, page_result) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (feed) DO UPDATE SET cursor = excluded.cursor,"
                " position = excluded.position, synced_through = excluded.synced_through,"
                " acknowledged_at = excluded.acknowledged_at, sync_id = excluded.sync_id,"
                " page = excluded.page, page_result = excluded.page_result",
                (feed, cursor, _ts(position), through, now, sync_id, page, page_result),
            )

    def reset(self, feeds: Iterable[str]) -> None:
        """A full resync: read these feeds from their beginning; `synced_through` is kept."""
        with self._write() as db:
            for feed in feeds:
                db.execute(
                    "UPDATE watermarks SET cursor = NULL, position = NULL, sync_id = NULL,"
                    " page = NULL, page_result = NULL WHERE feed = ?",
                    (feed,),
                )

    # -- quarantine --------------------------------------------------------------------------

    def quarantine(self, rejected: Sequence[Rejected]) -> None:
        with self._write() as db:
            self._quarantine(db, rejected, _now())

    def resolve(self, source: str, target: str, record_ids: Sequence[str]) -> None:
        with self._write() as db:
            self._resolve_keys(db, source, target, record_ids, _now())

    def entries(
        self, *, status: str | None = "open", ids: Sequence[int] | None = None
    ) -> list[QuarantineEntry]:
        where, params = ["1 = 1"], []
        if status is not None:
            where.append("status = ?")
            params.append(status)
        if ids is not None:
            if not ids:
                return []
            where.append(f"id IN ({','.join('?' * len(ids))})")
            params.extend(str(i) for i in ids)
        rows = self._read(
            f"SELECT * FROM quarantine WHERE {' AND '.join(where)} ORDER BY id", params
        )
        return [
            QuarantineEntry(
                id=row["id"],
                source=row["source"],
                target=row["target"],
                record_id=row["record_id"],
                field=row["field"],
                reason=row["reason"],
                record=json.loads(row["record"]),
                first_seen=datetime.fromisoformat(row["first_seen"]),
                last_seen=datetime.fromisoformat(row["last_seen"]),
                times=row["times"],
                status=row["status"],
                resolved_at=_moment(row["resolved_at"]),
            )
            for row in rows
        ]

    def open_keys(self, source: str, target: str) -> set[str]:
        """The record ids with an open entry for this source and target."""
        rows = self._read(
            "SELECT record_id FROM quarantine WHERE status = 'open' AND source = ? AND target = ?",
            (source, target),
        )
        return {str(r[0]) for r in rows}

    @staticmethod
    def _quarantine(db: sqlite3.Connection, rejected: Sequence[Rejected], now: str) -> None:
        db.executemany(
            "INSERT INTO quarantine (source, target, record_id, field, reason, record,"
            " record_updated_at, first_seen, last_seen) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (source, target, record_id) WHERE status = 'open' DO UPDATE SET"
            " field = excluded.field, reason = excluded.reason, record = excluded.record,"
            " record_updated_at = excluded.record_updated_at, last_seen = excluded.last_seen,"
            " times = quarantine.times + 1",
            [
                (
                    r.source,
                    r.target,
                    r.record_id,
                    r.field,
                    r.reason,
                    json.dumps(r.record, default=str, sort_keys=True),
                    _record_updated_at(r.record),
                    now,
                    now,
                )
                for r in rejected
            ],
        )

    @staticmethod
    def _resolve_keys(
        db: sqlite3.Connection, source: str, target: str, record_ids: Sequence[str], now: str
    ) -> None:
        # Cheap when nothing is open for this target, which is almost always.
        if not db.execute(
            "SELECT 1 FROM quarantine WHERE status = 'open' AND source = ? AND target = ? LIMIT 1",
            (source, target),
        ).fetchone():
            return
        db.executemany(
            "UPDATE quarantine SET status = 'resolved', resolved_at = ?"
            " WHERE status = 'open' AND source = ? AND target = ? AND record_id = ?",
            [(now, source, target, record_id) for record_id in record_ids],
        )

    # -- drift -------------------------------------------------------------------------------

    def record_drift(self, entries: Sequence[DriftEntry]) -> None:
        now = _now()
        with self._write() as db:
            db.executemany(
                "INSERT INTO drift (source, target, record_id, kind, record_updated_at, found_at)"
                " VALUES (?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (source, target, record_id) WHERE status = 'open' DO UPDATE SET"
                " kind = excluded.kind, record_updated_at = excluded.record_updated_at,"
                " found_at = excluded.found_at",
                [
                    (e.source, e.target, e.record_id, e.kind, _ts(e.record_updated_at), now)
                    for e in entries
                ],
            )

    def open_drift(self) -> list[DriftEntry]:
        rows = self._read("SELECT * FROM drift WHERE status = 'open' ORDER BY id")
        return [
            DriftEntry(
                source=row["source"],
                target=row["target"],
                record_id=row["record_id"],
                kind=row["kind"],
                record_updated_at=_moment(row["record_updated_at"]),
            )
            for row in rows
        ]

    def drift_size(self) -> int:
        return int(self._read("SELECT COUNT(*) FROM drift WHERE status = 'open'")[0][0])

    def repaired(self, source: str, target: str, record_ids: Sequence[str]) -> None:
        now = _now()
        with self._write() as db:
            db.executemany(
                "UPDATE drift SET status = 'repaired', repaired_at = ?"
                " WHERE status = 'open' AND source = ? AND target = ? AND record_id = ?",
                [(now, source, target, record_id) for record_id in record_ids],
            )
