"""The configuration the workers of one task queue share (issue 17), one row per queue.

Written by the first worker of a queue, read by every worker that starts after it
(`continuum.peers` decides what a difference means). Compare-and-set, so that two workers
starting at once with different configurations cannot both win.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update

from store.database import Store
from store.schema import worker_peers


@dataclass(frozen=True)
class PeerRecord:
    task_queue: str
    fingerprint: str
    summary: str
    recorded_by: str
    recorded_at: datetime


class WorkerPeers:
    def __init__(self, store: Store) -> None:
        self.store = store

    def recorded(self, task_queue: str) -> PeerRecord | None:
        with self.store.read() as db:
            row = db.execute(
                select(worker_peers).where(worker_peers.c.task_queue == task_queue)
            ).first()
        return None if row is None else PeerRecord(**row._asdict())

    def record(self, mine: PeerRecord) -> PeerRecord:
        """Records `mine` if the queue has no record yet; the record in force either way."""
        with self.store.write() as db:
            db.execute(
                self.store.insert(worker_peers)
                .values(**vars(mine))
                .on_conflict_do_nothing(index_elements=["task_queue"])
            )
        found = self.recorded(mine.task_queue)
        assert found is not None  # just written, and never deleted
        return found

    def replace(self, mine: PeerRecord, previous: str) -> bool:
        """Records `mine` in place of the record with fingerprint `previous`; False when
        another worker changed it meanwhile."""
        with self.store.write() as db:
            changed = db.execute(
                update(worker_peers)
                .where(
                    worker_peers.c.task_queue == mine.task_queue,
                    worker_peers.c.fingerprint == previous,
                )
                .values(**vars(mine))
            ).rowcount
        return changed == 1
