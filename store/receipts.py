"""Which webhook events were accepted, by (source, event id), in the store.

An event is claimed (a `pending` row) before it goes to Temporal, and becomes `accepted`
only after Temporal took it. A failure in between deletes the claim, so the sender's retry is
processed. A duplicate that arrives while the first is in flight finds the claim and is told
to retry later (409), so it is never applied twice; a claim older than the lease (the gateway
died mid-call) may be taken over. If that ever double-sends, the workflow still applies an
event once: `received` keeps event ids, `delivered` takes the first notice, `cancel` refuses
a second cancellation.

Every step is one statement, so gateways on several hosts sharing PostgreSQL race safely: the
claim is INSERT ... ON CONFLICT DO NOTHING on the (source, event id) key (one of them inserts),
and a takeover is a compare-and-set on the stale `claimed_at`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from sqlalchemy import ColumnElement, and_, select

from store.database import Store
from store.schema import webhook_receipts

LEASE_SECONDS = 60.0


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
    """`store`: the shared `Store`, or a URL or SQLite file of one (then this owns it)."""

    def __init__(self, store: Store | str | Path, lease: float = LEASE_SECONDS) -> None:
        self._owned = not isinstance(store, Store)
        self.store = store if isinstance(store, Store) else Store(store)
        self.lease = lease

    @staticmethod
    def _key(source: str, event_id: str) -> ColumnElement[bool]:
        r = webhook_receipts
        return and_(r.c.source == source, r.c.event_id == event_id)

    def claim(self, source: str, event_id: str, type_: str, workflow_id: str, now: float) -> Claim:
        r = webhook_receipts
        # A claim released between two steps below is simply tried again.
        for _ in range(3):
            with self.store.write() as db:
                inserted = db.execute(
                    self.store.insert(r)
                    .values(
                        source=source,
                        event_id=event_id,
                        type=type_,
                        workflow_id=workflow_id,
                        state="pending",
                        claimed_at=now,
                    )
                    .on_conflict_do_nothing(index_elements=[r.c.source, r.c.event_id])
                    .returning(r.c.event_id)
                ).first()
                if inserted is not None:
                    return Claim(ClaimState.CLAIMED)
                taken = db.execute(
                    r.update()
                    .where(
                        self._key(source, event_id),
                        r.c.state == "pending",
                        r.c.claimed_at <= now - self.lease,
                    )
                    .values(claimed_at=now)
                    .returning(r.c.event_id)
                ).first()
                if taken is not None:
                    return Claim(ClaimState.CLAIMED)  # the claimant died mid-call
                row = db.execute(
                    select(r.c.state, r.c.accepted_at).where(self._key(source, event_id))
                ).one_or_none()
            if row is not None:
                if row.state == "accepted":
                    return Claim(ClaimState.ACCEPTED, row.accepted_at)
                return Claim(ClaimState.IN_FLIGHT)
        return Claim(ClaimState.IN_FLIGHT)

    def accept(self, source: str, event_id: str, now: float) -> None:
        r = webhook_receipts
        with self.store.write() as db:
            db.execute(
                r.update()
                .where(self._key(source, event_id))
                .values(state="accepted", accepted_at=now)
            )

    def release(self, source: str, event_id: str) -> None:
        """Forgets a claim whose event Temporal did not take, so that a retry is processed."""
        r = webhook_receipts
        with self.store.write() as db:
            db.execute(r.delete().where(self._key(source, event_id), r.c.state == "pending"))

    def forget_accepted_before(self, cutoff: float) -> int:
        """Drops receipts accepted before `cutoff` (unix seconds): a sender's retry older than
        the retention is refused by the signature's replay window anyway. Returns how many."""
        r = webhook_receipts
        with self.store.write() as db:
            done = db.execute(r.delete().where(r.c.state == "accepted", r.c.accepted_at < cutoff))
        return done.rowcount

    def ping(self) -> None:
        self.store.ping()

    def close(self) -> None:
        if self._owned:
            self.store.close()
