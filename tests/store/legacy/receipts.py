"""Which webhook events were accepted, by (source, event id), in SQLite.

An event is claimed (a `pending` row) before it goes to Temporal, and becomes `accepted`
only after Temporal took it. A failure in between deletes the claim, so the sender's retry is
processed. A duplicate that arrives while the first is in flight finds the claim and is told
to retry later (409), so it is never applied twice; a claim older than the lease (the gateway
died mid-call) may be taken over. If that ever double-sends, the workflow still applies an
event once: `received` keeps event ids, `delivered` takes the first notice, `cancel` refuses
a second cancellation.
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

LEASE_SECONDS = 60.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS receipts (
    source TEXT NOT NULL,
    event_id TEXT NOT NULL,
    type TEXT NOT NULL,
    workflow_id TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'accepted')),
    claimed_at REAL NOT NULL,
    accepted_at REAL,
    PRIMARY KEY (source, event_id)
)
"""


class ClaimState(StrEnum):
    CLAIMED = "claimed"  # this request processes the event
    ACCEPTED = "accepted"  # already accepted earlier: a replay
    IN_FLIGHT = "in_flight"  # another request is processing it right now


@dataclass(frozen=True)
class Claim:
    state: ClaimState
    # For ACCEPTED: when it was accepted (unix seconds).
    accepted_at: float | None = None


class Receipts:
    def __init__(self, path: Path, lease: float = LEASE_SECONDS) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        # One connection shared by the worker threads; the lock serialises its use.
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute(_SCHEMA)
        self._lock = threading.Lock()
        self.lease = lease

    def claim(self, source: str, event_id: str, type_: str, workflow_id: str, now: float) -> Claim:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                row = self._db.execute(
                    "SELECT state, claimed_at, accepted_at FROM receipts "
                    "WHERE source = ? AND event_id = ?",
                    (source, event_id),
                ).fetchone()
                if row is None:
                    self._db.execute(
                        "INSERT INTO receipts (source, event_id, type, workflow_id, state, "
                        "claimed_at) VALUES (?, ?, ?, ?, 'pending', ?)",
                        (source, event_id, type_, workflow_id, now),
                    )
                    claim = Claim(ClaimState.CLAIMED)
                elif row[0] == "accepted":
                    claim = Claim(ClaimState.ACCEPTED, row[2])
                elif now - row[1] < self.lease:
                    claim = Claim(ClaimState.IN_FLIGHT)
                else:
                    self._db.execute(
                        "UPDATE receipts SET claimed_at = ? WHERE source = ? AND event_id = ?",
                        (now, source, event_id),
                    )
                    claim = Claim(ClaimState.CLAIMED)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            return claim

    def accept(self, source: str, event_id: str, now: float) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE receipts SET state = 'accepted', accepted_at = ? "
                "WHERE source = ? AND event_id = ?",
                (now, source, event_id),
            )

    def release(self, source: str, event_id: str) -> None:
        """Forgets a claim whose event Temporal did not take, so that a retry is processed."""
        with self._lock:
            self._db.execute(
                "DELETE FROM receipts WHERE source = ? AND event_id = ? AND state = 'pending'",
                (source, event_id),
            )

    def ping(self) -> None:
        with self._lock:
            self._db.execute("SELECT 1").fetchone()

    def close(self) -> None:
        with self._lock:
            self._db.close()
