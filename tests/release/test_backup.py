"""`continuum backup` / `continuum restore`: the embedded stack with an order in flight, backed up
while it runs, destroyed and restored; a PostgreSQL store through pg_dump / pg_restore; and a
backup that is damaged, incomplete or meant for another store is refused in one line."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pgserver.postgres_server import get_server
from sqlalchemy import text

from continuum.client import connect
from continuum.order_client import OrderClient
from continuum.release.backup import BackupError, backup, read_backup, restore
from continuum.settings import ORDERS_TASK_QUEUE
from continuum.stack import Stack
from domain.orders.contract import Message
from domain.orders.lifecycle import DeliveryNotice
from domain.orders.models import OrderStatus
from domain.sync.mapping import Rejected
from store import Store, sqlite_url
from store.receipts import Receipts
from store.sync import SyncStore
from tests import samples
from tests.integration.conftest import crm_deals, erp_counts, free_ports
from tests.release.conftest import cli, wait_status
from tests.store.conftest import _fresh_database

ONE_OF_EACH = {"reservations": 1, "sales_orders": 1, "payments": 1, "shipments": 1, "invoices": 1}
AT = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def seed(url: str, page: int = 1) -> None:
    """Some of each kind of state: a watermark with a quarantined record, a webhook receipt."""
    store = Store(url).open()
    try:
        SyncStore(store).acknowledge(
            "orders",
            cursor=f"c{page}",
            position=AT.replace(hour=12 + page),
            sync_id="sync-1",
            page=page,
            page_result="{}",
            rejected=[
                Rejected(
                    source="erp",
                    target="crm",
                    record_id=f"R-{page}",
                    field="email",
                    reason="not an e-mail address",
                    record={"email": "nope"},
                )
            ],
        )
        receipts = Receipts(store)
        receipts.claim("carrier", f"evt-{page}", "delivered", "order-X", now=1.0 * page)
        receipts.accept("carrier", f"evt-{page}", now=2.0 * page)
    finally:
        store.close()


async def deliver(orders: OrderClient, order_id: str) -> None:
    notice = DeliveryNotice(order_id=order_id, carrier="test-carrier", delivered_at=AT)
    await orders.handle(order_id).signal(Message.DELIVERED, notice)


async def test_an_order_in_flight_at_the_backup_completes_once_after_the_stack_is_restored(
    tmp_path: Path,
) -> None:
    data, ports, into = tmp_path / "stack", free_ports(), tmp_path / "backups"
    order = samples.order(customer_id="C-100")
    with Stack(data, ports) as stack:
        orders = OrderClient(
            await connect(stack.temporal_address, stack.data_converter()), ORDERS_TASK_QUEUE
        )
        await orders.start(order)
        await wait_status(orders, order.order_id, OrderStatus.AWAITING_DELIVERY)
        seed(sqlite_url(data / "continuum.db"))

        made = cli(stack, "backup", "--to", str(into))
        assert made.returncode == 0, made.stderr
        assert "1 running processes" in made.stdout
        (taken,) = into.iterdir()

        # After the backup the order goes on to its end: its invoice is written.
        await deliver(orders, order.order_id)
        await wait_status(orders, order.order_id, OrderStatus.COMPLETED)
        assert erp_counts(stack, order.order_id) == ONE_OF_EACH
        seed(sqlite_url(data / "continuum.db"), page=2)  # the store moves on too

        busy = cli(stack, "restore", str(taken))
        assert busy.returncode == 1
        assert "is open in" in busy.stderr and "stop the stack before restoring" in busy.stderr
        env = stack.client_env()

    # The stack is destroyed: Continuum's own state and Temporal's are gone. (The ERP and the
    # CRM are the outside world; the codec keys live outside the data directory.)
    for lost in [*data.glob("temporal.db*"), *data.glob("continuum.db*")]:
        lost.unlink()
    restored = cli(None, "restore", str(taken), env=env)
    assert restored.returncode == 0, restored.stdout + restored.stderr
    for line in (
        "✓ sync watermarks: as backed up",
        "✓ webhook receipts: as backed up",
        "✓ open quarantine entries: as backed up",
        "✓ running processes: as backed up",
    ):
        assert line in restored.stdout

    with Stack(data, ports) as stack:
        orders = OrderClient(
            await connect(stack.temporal_address, stack.data_converter()), ORDERS_TASK_QUEUE
        )
        # Temporal is back where the backup found it: the order waits for its delivery.
        assert (await orders.status(order.order_id)).status is OrderStatus.AWAITING_DELIVERY
        # The carrier's event arrives again as it was sent (a sender retries with its body).
        await deliver(orders, order.order_id)
        await wait_status(orders, order.order_id, OrderStatus.COMPLETED)
        # Its steps ran again after the restore; the ERP answered them from their keys.
        assert erp_counts(stack, order.order_id) == ONE_OF_EACH
        assert len(crm_deals(stack, order.order_id)) == 1
        store = SyncStore(Store(sqlite_url(data / "continuum.db")))
        assert store.watermark("orders").cursor == "c1"  # the store as backed up, not page 2
        store.close()


@pytest.fixture(scope="module")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    server = get_server(tmp_path_factory.mktemp("postgres") / "data", cleanup_mode="delete")
    try:
        yield str(server.get_uri())
    finally:
        server.cleanup()


def test_a_postgresql_store_comes_back_through_pg_dump_and_pg_restore(
    tmp_path: Path, postgres: str
) -> None:
    url = _fresh_database(postgres)
    seed(url)
    taken = backup(url, None, tmp_path, AT)
    assert read_backup(taken).store_facts.watermarks["orders"].startswith("position 2026-12-06 13")

    seed(url, page=2)  # later work, which the restore takes back
    restored = restore(taken, url, None, AT)
    assert restored.ok, restored.checks
    store = Store(url).open()
    try:
        assert SyncStore(store).watermark("orders").cursor == "c1"
        with store.read() as db:
            assert db.execute(text("SELECT count(*) FROM webhook_receipts")).scalar() == 1
    finally:
        store.close()

    # Restoring under a running worker would swap its tables away: refused.
    holder = Store(url).open()
    try:
        with pytest.raises(BackupError, match="other connections use the store"):
            restore(taken, url, None, AT)
    finally:
        holder.close()


def test_a_damaged_incomplete_or_foreign_backup_is_refused_in_one_line(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "continuum.db")
    seed(url)
    taken = backup(url, None, tmp_path / "backups", AT)
    assert restore(taken, url, None, AT, dry_run=True).ok

    with pytest.raises(BackupError, match=r"has no manifest.json"):
        read_backup(tmp_path)
    with pytest.raises(BackupError, match="another-store is neither SQLite nor PostgreSQL"):
        restore(taken, "mysql://localhost/another-store", None, AT)
    with pytest.raises(BackupError, match="holds a sqlite store, but the store is postgresql"):
        restore(taken, "postgresql+psycopg://u:secret@localhost/x", None, AT)

    manifest = json.loads((taken / "manifest.json").read_text())
    with sqlite3.connect(taken / "store.sqlite") as db:
        db.execute("DELETE FROM webhook_receipts")
    db.close()
    with pytest.raises(BackupError, match=r"store.sqlite does not match its checksum"):
        read_backup(taken)
    (taken / "store.sqlite").unlink()
    with pytest.raises(BackupError, match=r"the backup is incomplete: .*store.sqlite is missing"):
        read_backup(taken)
    assert manifest["files"][0]["name"] == "store.sqlite"

    # A store somebody holds open is not replaced under them.
    with sqlite3.connect(tmp_path / "continuum.db") as holder:
        holder.execute("SELECT 1")
        other = backup(url, None, tmp_path / "again", AT)
        with pytest.raises(BackupError, match=r"is open in .*stop the stack before restoring"):
            restore(other, url, None, AT)
    holder.close()
