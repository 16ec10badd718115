"""The ERP→CRM sync's own state in the store: per-feed watermarks, the quarantine, and the
drift reconciliation found (for the next run to repair).

A watermark moves only in `acknowledge`, after the CRM acknowledged a page, in the same
transaction that files the page's bad records and resolves the entries of records that now
went through: a crash leaves either all of a page's bookkeeping or none of it. It moves forward
only: one compare-and-set statement, so that a late acknowledgement racing a newer one (two
workers on PostgreSQL) never steps it back. The same record quarantined twice is one open entry,
updated (`times` counts the sightings).

Synchronous and small on purpose: the worker's activities, the CLI and the reports read it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, and_, case, func, or_, select, text

from domain.sync.mapping import Rejected
from domain.sync.models import DriftEntry, QuarantineEntry, Watermark
from store.database import Store
from store.schema import sync_drift, sync_quarantine, sync_watermarks

_OPEN = text("status = 'open'")
_KEYS = ["source", "target", "record_id"]


def _now() -> datetime:
    return datetime.now(UTC)


def _record_updated_at(record: dict[str, Any]) -> datetime | None:
    value = record.get("updated_at")
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, str) and value:
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return None


class SyncStore:
    """`store`: the shared `Store`, or a URL or SQLite file of one (then this owns it)."""

    def __init__(self, store: Store | str | Path) -> None:
        self._owned = not isinstance(store, Store)
        self.store = store if isinstance(store, Store) else Store(store)

    def close(self) -> None:
        if self._owned:
            self.store.close()

    # -- what the reports read ---------------------------------------------------------------

    def quarantine_size(self) -> int:
        """Open quarantine entries."""
        q = sync_quarantine
        with self.store.read() as db:
            return int(
                db.scalar(select(func.count()).select_from(q).where(q.c.status == "open")) or 0
            )

    def opened_since(self, moment: datetime) -> int:
        """Open quarantine entries first seen at or after `moment` (the watchdog: is it growing)."""
        q = sync_quarantine
        with self.store.read() as db:
            return int(
                db.scalar(
                    select(func.count())
                    .select_from(q)
                    .where(q.c.status == "open", q.c.first_seen >= moment)
                )
                or 0
            )

    def last_synced_through(self, feed: str) -> datetime | None:
        """The updated_at of the last acknowledged record of `feed` ("orders", "customers")."""
        return self.watermark(feed).synced_through

    # -- watermarks --------------------------------------------------------------------------

    def watermark(self, feed: str) -> Watermark:
        w = sync_watermarks
        with self.store.read() as db:
            row = db.execute(select(w).where(w.c.feed == feed)).one_or_none()
        if row is None:
            return Watermark(feed=feed)
        return Watermark(
            feed=feed,
            cursor=row.cursor,
            position=row.position,
            synced_through=row.synced_through,
            acknowledged_at=row.acknowledged_at,
        )

    def watermarks(self) -> list[Watermark]:
        w = sync_watermarks
        with self.store.read() as db:
            feeds = list(db.scalars(select(w.c.feed).order_by(w.c.feed)))
        return [self.watermark(feed) for feed in feeds]

    def acknowledged_page(self, feed: str, sync_id: str, page: int) -> str | None:
        """The stored result (JSON) when this page of this sync was acknowledged already."""
        w = sync_watermarks
        with self.store.read() as db:
            return db.scalar(
                select(w.c.page_result).where(
                    w.c.feed == feed, w.c.sync_id == sync_id, w.c.page == page
                )
            )

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
    ) -> bool:
        """After the CRM acknowledged a page: its bad records into the quarantine, the open
        entries of records that went through resolved, and the watermark moved; at once.
        False when a newer page was acknowledged meanwhile: the watermark stays where it is."""
        now = _now()
        w = sync_watermarks
        with self.store.write() as db:
            self._quarantine(db, rejected, now)
            for target, ids in (accepted or {}).items():
                self._resolve_keys(db, feed, target, ids, now)
            new = self.store.insert(w).values(
                feed=feed,
                cursor=cursor,
                position=position,
                synced_through=position,
                acknowledged_at=now,
                sync_id=sync_id,
                page=page,
                page_result=page_result,
            )
            ahead = new.excluded.position
            moved = db.execute(
                new.on_conflict_do_update(
                    index_elements=[w.c.feed],
                    set_={
                        "cursor": new.excluded.cursor,
                        "position": ahead,
                        "synced_through": case(
                            (
                                or_(w.c.synced_through.is_(None), w.c.synced_through < ahead),
                                ahead,
                            ),
                            else_=w.c.synced_through,
                        ),
                        "acknowledged_at": new.excluded.acknowledged_at,
                        "sync_id": new.excluded.sync_id,
                        "page": new.excluded.page,
                        "page_result": new.excluded.page_result,
                    },
                    # The compare-and-set: after a reset (NULL) anything goes; else only forward.
                    where=or_(
                        w.c.position.is_(None), and_(ahead.is_not(None), w.c.position <= ahead)
                    ),
                ).returning(w.c.feed)
            ).first()
            return moved is not None

    def reset(self, feeds: Iterable[str]) -> None:
        """A full resync: read these feeds from their beginning; `synced_through` is kept."""
        w = sync_watermarks
        with self.store.write() as db:
            db.execute(
                w.update()
                .where(w.c.feed.in_(list(feeds)))
                .values(cursor=None, position=None, sync_id=None, page=None, page_result=None)
            )

    # -- quarantine --------------------------------------------------------------------------

    def quarantine(self, rejected: Sequence[Rejected]) -> None:
        with self.store.write() as db:
            self._quarantine(db, rejected, _now())

    def resolve(self, source: str, target: str, record_ids: Sequence[str]) -> None:
        with self.store.write() as db:
            self._resolve_keys(db, source, target, record_ids, _now())

    def entries(
        self, *, status: str | None = "open", ids: Sequence[int] | None = None
    ) -> list[QuarantineEntry]:
        q = sync_quarantine
        query = select(q).order_by(q.c.id)
        if status is not None:
            query = query.where(q.c.status == status)
        if ids is not None:
            if not ids:
                return []
            query = query.where(q.c.id.in_([int(i) for i in ids]))
        with self.store.read() as db:
            rows = db.execute(query).all()
        return [
            QuarantineEntry(
                id=row.id,
                source=row.source,
                target=row.target,
                record_id=row.record_id,
                field=row.field,
                reason=row.reason,
                record=json.loads(row.record),
                first_seen=row.first_seen,
                last_seen=row.last_seen,
                times=row.times,
                status=row.status,
                resolved_at=row.resolved_at,
            )
            for row in rows
        ]

    def open_keys(self, source: str, target: str) -> set[str]:
        """The record ids with an open entry for this source and target."""
        q = sync_quarantine
        with self.store.read() as db:
            return set(
                db.scalars(
                    select(q.c.record_id).where(
                        q.c.status == "open", q.c.source == source, q.c.target == target
                    )
                )
            )

    def _quarantine(self, db: Connection, rejected: Sequence[Rejected], now: datetime) -> None:
        if not rejected:
            return
        q = sync_quarantine
        new = self.store.insert(q)
        db.execute(
            new.on_conflict_do_update(
                index_elements=_KEYS,
                index_where=_OPEN,
                set_={
                    "field": new.excluded.field,
                    "reason": new.excluded.reason,
                    "record": new.excluded.record,
                    "record_updated_at": new.excluded.record_updated_at,
                    "last_seen": new.excluded.last_seen,
                    "times": q.c.times + 1,
                },
            ),
            [
                {
                    "source": r.source,
                    "target": r.target,
                    "record_id": r.record_id,
                    "field": r.field,
                    "reason": r.reason,
                    "record": json.dumps(r.record, default=str, sort_keys=True),
                    "record_updated_at": _record_updated_at(r.record),
                    "first_seen": now,
                    "last_seen": now,
                }
                for r in rejected
            ],
        )

    @staticmethod
    def _resolve_keys(
        db: Connection, source: str, target: str, record_ids: Sequence[str], now: datetime
    ) -> None:
        if not record_ids:
            return
        q = sync_quarantine
        is_open = (q.c.status == "open", q.c.source == source, q.c.target == target)
        # Cheap when nothing is open for this target, which is almost always.
        if db.scalar(select(q.c.id).where(*is_open).limit(1)) is None:
            return
        db.execute(
            q.update()
            .where(*is_open, q.c.record_id.in_(list(record_ids)))
            .values(status="resolved", resolved_at=now)
        )

    # -- drift -------------------------------------------------------------------------------

    def record_drift(self, entries: Sequence[DriftEntry]) -> None:
        if not entries:
            return
        now = _now()
        d = sync_drift
        new = self.store.insert(d)
        with self.store.write() as db:
            db.execute(
                new.on_conflict_do_update(
                    index_elements=_KEYS,
                    index_where=_OPEN,
                    set_={
                        "kind": new.excluded.kind,
                        "record_updated_at": new.excluded.record_updated_at,
                        "found_at": new.excluded.found_at,
                    },
                ),
                [
                    {
                        "source": e.source,
                        "target": e.target,
                        "record_id": e.record_id,
                        "kind": e.kind,
                        "record_updated_at": e.record_updated_at,
                        "found_at": now,
                    }
                    for e in entries
                ],
            )

    def open_drift(self) -> list[DriftEntry]:
        d = sync_drift
        with self.store.read() as db:
            rows = db.execute(select(d).where(d.c.status == "open").order_by(d.c.id)).all()
        return [
            DriftEntry(
                source=row.source,
                target=row.target,
                record_id=row.record_id,
                kind=row.kind,
                record_updated_at=row.record_updated_at,
            )
            for row in rows
        ]

    def drift_size(self) -> int:
        d = sync_drift
        with self.store.read() as db:
            return int(
                db.scalar(select(func.count()).select_from(d).where(d.c.status == "open")) or 0
            )

    def repaired(self, source: str, target: str, record_ids: Sequence[str]) -> None:
        if not record_ids:
            return
        d = sync_drift
        with self.store.write() as db:
            db.execute(
                d.update()
                .where(
                    d.c.status == "open",
                    d.c.source == source,
                    d.c.target == target,
                    d.c.record_id.in_(list(record_ids)),
                )
                .values(status="repaired", repaired_at=_now())
            )
