"""Opening the store: the schema is migrated at start (and a second start changes nothing), a
database from a newer Continuum is refused, and one that cannot be reached is one line naming
the URL with its password masked."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import inspect, text

from store import Store, StoreError, StoreTooNew, StoreUnreachable, sqlite_url
from store.receipts import Receipts
from store.sync import SyncStore
from tests.store.together import open_together

TABLES = {"sync_watermarks", "sync_quarantine", "sync_drift", "webhook_receipts", "legacy_imports"}


def test_a_new_database_is_migrated_to_the_newest_schema_once(database_url: str) -> None:
    first = Store(database_url).open()
    try:
        assert set(inspect(first.engine).get_table_names()) >= TABLES
        with first.read() as db:
            assert db.scalar(text("SELECT version_num FROM alembic_version")) == "0004"
        SyncStore(first).quarantine_size()
    finally:
        first.close()
    again = Store(database_url).open()  # a restart: nothing to do, nothing lost
    try:
        with again.read() as db:
            assert db.scalar(text("SELECT count(*) FROM alembic_version")) == 1
    finally:
        again.close()


def test_processes_opening_a_fresh_sqlite_file_together_all_open_it(tmp_path: Path) -> None:
    """A gateway, a worker and the CLI starting at once on a new data directory: SQLite refuses
    the switch to WAL at once ("database is locked") while another opener holds the new file;
    each opener must wait its turn instead of failing. Found by the racing-gateways test, which
    failed so once in some thirty fresh files (this test, without the fix: about half its runs)."""
    for attempt in range(60):
        url = sqlite_url(tmp_path / f"fresh-{attempt}.db")
        stores = [Store(url) for _ in range(4)]
        try:
            failures = open_together(stores)
        finally:
            for s in stores:
                s.close()
        assert not failures, f"fresh file {attempt}: {failures}"


def test_a_database_from_a_newer_continuum_is_refused(store: Store, database_url: str) -> None:
    with store.write() as db:
        db.execute(text("UPDATE alembic_version SET version_num = '0099'"))
    store.close()
    with pytest.raises(StoreTooNew) as refused:
        Store(database_url).open()
    message = str(refused.value)
    assert "0099" in message and "newer" in message and "\n" not in message


def test_the_store_opens_on_first_use_only(tmp_path: Path) -> None:
    receipts = Receipts(tmp_path / "deep" / "continuum.db")
    assert not (tmp_path / "deep").exists()
    receipts.ping()
    assert (tmp_path / "deep" / "continuum.db").is_file()
    receipts.close()


def test_an_unreachable_postgresql_is_one_line_with_the_password_masked() -> None:
    url = "postgresql+psycopg://continuum:s3cret-pw@127.0.0.1:1/continuum"
    with pytest.raises(StoreUnreachable) as unreachable:
        Store(url).open()
    message = str(unreachable.value)
    assert message.startswith(
        "cannot reach the store postgresql+psycopg://continuum:***@127.0.0.1:1/"
    )
    assert "s3cret-pw" not in message and "\n" not in message


def test_an_unusable_sqlite_path_or_url_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("")
    with pytest.raises(StoreUnreachable) as unreachable:
        Store(sqlite_url(tmp_path / "a-file" / "continuum.db")).open()
    assert "\n" not in str(unreachable.value)
    with pytest.raises(StoreError, match="not a database URL"):
        Store("::not a url::s3cret")
    with pytest.raises(StoreError, match=r"unsupported store mysql://u:\*\*\*@h/db"):
        Store("mysql://u:s3cret@h/db")
