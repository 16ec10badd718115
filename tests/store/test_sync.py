"""The sync's state in the store, on SQLite and PostgreSQL: watermarks, the quarantine, drift;
and the watermark never stepping back when acknowledgements race."""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from domain.sync.mapping import Rejected
from domain.sync.models import DriftEntry
from store.sync import SyncStore

T0 = datetime(2026, 11, 1, tzinfo=UTC)


@pytest.fixture
def store(database_url: str) -> Iterator[SyncStore]:
    s = SyncStore(database_url)
    yield s
    s.close()


def bad(record_id: str, reason: str = "bad e-mail") -> Rejected:
    return Rejected(
        source="customers",
        target="contacts",
        record_id=record_id,
        field="email",
        reason=reason,
        record={"customer_id": record_id, "updated_at": T0.isoformat()},
    )


def ack(
    store: SyncStore,
    at: datetime | None,
    page: int,
    accepted: dict[str, list[str]] | None = None,
    feed: str = "orders",
) -> bool:
    return store.acknowledge(
        feed,
        cursor=f"c{page}",
        position=at,
        sync_id="s",
        page=page,
        page_result="{}",
        accepted=accepted,
    )


def test_a_fresh_store_knows_nothing(store: SyncStore) -> None:
    assert store.quarantine_size() == 0
    assert store.last_synced_through("orders") is None
    assert store.watermark("orders").cursor is None


def test_the_watermark_moves_on_acknowledge_and_synced_through_never_goes_back(
    store: SyncStore,
) -> None:
    ack(store, T0 + timedelta(seconds=5), 1)
    assert store.watermark("orders").cursor == "c1"
    assert store.last_synced_through("orders") == T0 + timedelta(seconds=5)
    assert store.acknowledged_page("orders", "s", 1) == "{}"
    assert store.acknowledged_page("orders", "s", 2) is None

    store.reset(["orders"])  # a full resync reads from the start again...
    assert store.watermark("orders").cursor is None and store.watermark("orders").position is None
    ack(store, T0 + timedelta(seconds=1), 1)
    # ...but the point the sync had reached is still reported.
    assert store.last_synced_through("orders") == T0 + timedelta(seconds=5)


def test_the_same_record_quarantined_twice_is_one_open_entry_updated(store: SyncStore) -> None:
    store.quarantine([bad("C-1"), bad("C-2")])
    store.quarantine([bad("C-1", "still a bad e-mail")])
    entries = {e.record_id: e for e in store.entries()}
    assert store.quarantine_size() == 2
    assert (entries["C-1"].times, entries["C-1"].reason) == (2, "still a bad e-mail")
    assert entries["C-1"].record["customer_id"] == "C-1"

    # Acknowledging a page where C-1 went through resolves it; a later failure opens a new one.
    ack(store, T0, 1, accepted={"contacts": ["C-1"]}, feed="customers")
    assert [e.record_id for e in store.entries()] == ["C-2"]
    assert [e.status for e in store.entries(status="resolved")] == ["resolved"]
    store.quarantine([bad("C-1")])
    assert store.quarantine_size() == 2 and store.open_keys("customers", "contacts") == {
        "C-1",
        "C-2",
    }


def test_drift_is_recorded_once_and_repaired(store: SyncStore) -> None:
    entry = DriftEntry(
        source="orders", target="deals", record_id="O-1", kind="missing", record_updated_at=T0
    )
    store.record_drift([entry, entry.model_copy(update={"kind": "different"})])
    assert [d.kind for d in store.open_drift()] == ["different"]
    store.repaired("orders", "deals", ["O-1"])
    assert store.drift_size() == 0


def test_another_process_sees_the_same_database(store: SyncStore, database_url: str) -> None:
    store.quarantine([bad("C-9")])
    other = SyncStore(database_url)
    try:
        assert other.quarantine_size() == 1
    finally:
        other.close()


def test_a_late_acknowledgement_does_not_step_the_watermark_back(store: SyncStore) -> None:
    assert ack(store, T0 + timedelta(seconds=5), 2)
    assert not ack(store, T0 + timedelta(seconds=1), 1)  # a slow worker's older page
    assert store.watermark("orders").cursor == "c2"
    assert store.acknowledged_page("orders", "s", 1) is None
    assert ack(store, T0 + timedelta(seconds=5), 3)  # the same moment: the next page of it


def test_racing_acknowledgements_only_ever_move_the_watermark_forward(database_url: str) -> None:
    """Four workers (each its own store, so their own connections) acknowledge 200 pages in a
    shuffled order while a reader watches: the position it sees never goes back, and the end
    is the newest page, whoever acknowledged it last."""
    pages = list(range(1, 201))
    random.Random(12).shuffle(pages)
    stores = [SyncStore(database_url) for _ in range(4)]
    seen: list[datetime] = []
    done = threading.Event()

    def worker(n: int) -> None:
        for page in pages[n::4]:
            ack(stores[n], T0 + timedelta(seconds=page), page)

    def reader() -> None:
        while not done.is_set():
            position = stores[0].watermark("orders").position
            if position is not None:
                seen.append(position)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    watcher = threading.Thread(target=reader)
    watcher.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    done.set()
    watcher.join()
    try:
        final = stores[0].watermark("orders")
        assert final.position == final.synced_through == T0 + timedelta(seconds=200)
        assert final.cursor == "c200"
        assert seen == sorted(seen) and seen
    finally:
        for s in stores:
            s.close()
