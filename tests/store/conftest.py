"""Every store test runs twice: on a SQLite file and on a real PostgreSQL, which this suite
starts itself (`pgserver`: one server for the session, a fresh database for each test)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from pgserver.postgres_server import get_server

from store import Store, sqlite_url


@pytest.fixture(scope="session")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The server's URL for the `postgres` database; stopped and deleted at session end."""
    started = time.monotonic()
    server = get_server(tmp_path_factory.mktemp("postgres") / "data", cleanup_mode="delete")
    try:
        print(f"\nPostgreSQL for the store tests up in {time.monotonic() - started:.1f}s")
        yield str(server.get_uri())
    finally:
        server.cleanup()


def _fresh_database(server_url: str) -> str:
    name = f"t_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    base, _, query = server_url.partition("?")
    url = f"{base.rsplit('/', 1)[0]}/{name}" + (f"?{query}" if query else "")
    return url.replace("postgresql://", "postgresql+psycopg://", 1)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return sqlite_url(tmp_path / "continuum.db")
    return _fresh_database(request.getfixturevalue("postgres"))


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    opened = Store(database_url).open()
    yield opened
    opened.close()
