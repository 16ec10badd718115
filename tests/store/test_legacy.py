"""An upgrade keeps everything: `sync.db` and `gateway.db` written by TODAY's code (the modules
kept verbatim in tests/store/legacy) are carried into the store on its first start, once, even
when a worker and a gateway start at the same moment; the files are then set aside, renamed
`<name>.imported`."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select

from domain.sync.mapping import Rejected
from domain.sync.models import DriftEntry
from store import Store
from store.receipts import ClaimState, Receipts
from store.schema import sync_drift, sync_quarantine
from store.sync import SyncStore
from tests.store.legacy.receipts import Receipts as OldReceipts
from tests.store.legacy.sync_store import SyncStore as OldSyncStore
from tests.store.together import open_together

T0 = datetime(2026, 11, 1, 8, 30, tzinfo=UTC)
NOW = 1_800_000_000.0


def bad(record_id: str, reason: str = "bad e-mail") -> Rejected:
    return Rejected(
        source="customers",
        target="contacts",
        record_id=record_id,
        field="email",
        reason=reason,
        record={"customer_id": record_id, "email": "nope", "updated_at": T0.isoformat()},
    )


def todays_files(data: Path) -> tuple[Path, Path]:
    """A user's .data/ as today's worker and gateway leave it."""
    old = OldSyncStore(data / "sync.db")
    old.acknowledge(
        "orders", cursor="c7", position=T0, sync_id="sync-1", page=7, page_result='{"page": 7}'
    )
    old.acknowledge(
        "customers",
        cursor=None,
        position=T0 + timedelta(seconds=90),
        sync_id="sync-1",
        page=3,
        page_result='{"page": 3}',
        rejected=[bad("C-1"), bad("C-2"), bad("C-3")],
    )
    old.quarantine([bad("C-1", "still a bad e-mail")])  # seen twice: times = 2
    old.resolve("customers", "contacts", ["C-3"])  # history: resolved
    old.record_drift(
        [
            DriftEntry(
                source="orders",
                target="deals",
                record_id="O-1",
                kind="missing",
                record_updated_at=None,
            ),
            DriftEntry(
                source="orders",
                target="deals",
                record_id="O-2",
                kind="different",
                record_updated_at=T0,
            ),
        ]
    )
    old.repaired("orders", "deals", ["O-1"])
    old.close()
    receipts = OldReceipts(data / "gateway.db")
    receipts.claim("carrier", "E-1", "shipment-delivered", "order-O-1", NOW)
    receipts.accept("carrier", "E-1", NOW + 1)
    receipts.claim("shop", "E-2", "order-cancelled", "order-O-2", NOW + 2)  # in flight
    receipts.close()
    return data / "sync.db", data / "gateway.db"


def assert_everything_carried_in(store: Store) -> None:
    sync = SyncStore(store)
    orders, customers = sync.watermark("orders"), sync.watermark("customers")
    assert (orders.cursor, orders.position, orders.synced_through) == ("c7", T0, T0)
    assert orders.acknowledged_at is not None
    assert sync.acknowledged_page("orders", "sync-1", 7) == '{"page": 7}'
    assert customers.synced_through == T0 + timedelta(seconds=90) and customers.cursor is None

    entries = {e.record_id: e for e in sync.entries()}
    assert sorted(entries) == ["C-1", "C-2"]
    assert (entries["C-1"].times, entries["C-1"].reason) == (2, "still a bad e-mail")
    assert entries["C-1"].record == bad("C-1").record
    assert entries["C-1"].first_seen < entries["C-1"].last_seen
    assert [e.record_id for e in sync.entries(status="resolved")] == ["C-3"]
    assert sync.open_keys("customers", "contacts") == {"C-1", "C-2"}

    assert [(d.record_id, d.kind, d.record_updated_at) for d in sync.open_drift()] == [
        ("O-2", "different", T0)
    ]
    with store.read() as db:
        assert db.scalar(select(func.count()).select_from(sync_quarantine)) == 3
        assert db.scalar(select(func.count()).select_from(sync_drift)) == 2

    receipts = Receipts(store)
    replay = receipts.claim("carrier", "E-1", "shipment-delivered", "order-O-1", NOW + 10)
    assert (replay.state, replay.accepted_at) == (ClaimState.ACCEPTED, NOW + 1)
    in_flight = receipts.claim("shop", "E-2", "order-cancelled", "order-O-2", NOW + 10)
    assert in_flight.state is ClaimState.IN_FLIGHT


def test_todays_files_are_carried_into_the_store_once(tmp_path: Path, database_url: str) -> None:
    sync_db, gateway_db = todays_files(tmp_path)

    store = Store(database_url, legacy=[sync_db, gateway_db]).open()
    try:
        assert_everything_carried_in(store)
    finally:
        store.close()
    assert not sync_db.exists() and not gateway_db.exists()
    assert (tmp_path / "sync.db.imported").is_file()
    assert (tmp_path / "gateway.db.imported").is_file()

    # The old file back in place (a restored backup) is not imported a second time.
    shutil.copy(tmp_path / "sync.db.imported", sync_db)
    again = Store(database_url, legacy=[sync_db, gateway_db]).open()
    try:
        assert_everything_carried_in(again)
    finally:
        again.close()
    assert not sync_db.exists() and (tmp_path / "sync.db.imported-2").is_file()


def test_a_worker_and_a_gateway_starting_together_import_once(
    tmp_path: Path, database_url: str
) -> None:
    files = todays_files(tmp_path)
    stores = [Store(database_url, legacy=files) for _ in range(2)]
    failures = open_together(stores)
    try:
        assert failures == []
        assert_everything_carried_in(stores[0])
    finally:
        for s in stores:
            s.close()
