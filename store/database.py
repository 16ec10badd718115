"""Where Continuum keeps its own state: one database chosen by a URL, a SQLite file by default
(`sqlite:///.data/continuum.db`), PostgreSQL in production (`postgresql+psycopg://...`).

Opening it migrates the schema (Alembic, scripts shipped in `store/migrations`) and carries in
today's SQLite files once (`store.legacy`). A database whose schema is newer than this code is
refused; one that cannot be reached is a one-line `StoreUnreachable` naming the URL with its
password masked, which the worker, the gateway and the CLI print instead of a traceback.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import URL, Connection, Engine, Table, create_engine, event, make_url, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError

from store import legacy

# Found through the package (importlib.resources), so it works from a wheel too.
MIGRATIONS = "store:migrations"
# SQLite: how long a writer waits for another process's write lock before giving up.
BUSY_TIMEOUT_SECONDS = 10.0
# PostgreSQL: one advisory lock serialises the migrations of replicas starting together.
_MIGRATION_LOCK = 0x436F6E74  # "Cont"
# A connection option: this transaction writes (SQLite takes the write lock at BEGIN).
_WRITES = "continuum_writes"


class StoreError(Exception):
    """The store cannot be used; the message is one line, fit to print."""


class StoreUnreachable(StoreError):
    pass


class StoreTooNew(StoreError):
    pass


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def masked(url: URL) -> str:
    return url.render_as_string(hide_password=True)


def _first_line(err: BaseException) -> str:
    cause = err.orig if isinstance(err, DBAPIError) and err.orig is not None else err
    lines = str(cause).strip().splitlines()
    return lines[0] if lines else type(cause).__name__


def _parse(url: str) -> URL:
    try:
        parsed = make_url(url)
    except ArgumentError:
        # Never echo it: a malformed URL may still hold a password.
        raise StoreError("CONTINUUM_DATABASE_URL is not a database URL") from None
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise StoreError(
            f"unsupported store {masked(parsed)}: use sqlite:/// or postgresql+psycopg://"
        )
    return parsed


def _create_engine(url: URL) -> Engine:
    if url.get_backend_name() == "postgresql":
        return create_engine(url, pool_pre_ping=True, connect_args={"connect_timeout": 10})
    if url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_SECONDS})

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, _: Any) -> None:
        # SQLAlchemy's BEGIN (below) instead of the driver's, so that writers can BEGIN IMMEDIATE.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        # WAL: readers (reports, gauges, the CLI) never wait for a writer, nor it for them.
        _wal(cursor)
        # FULL: a receipt the gateway answered for, or an acknowledged page, survives a power cut.
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_SECONDS * 1000)}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        # A writer takes the write lock up front: a read-then-write transaction that upgraded
        # later could fail with SQLITE_BUSY instead of waiting its turn.
        writes = connection.get_execution_options().get(_WRITES, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if writes else "BEGIN")

    return engine


def _wal(cursor: Any) -> None:
    """Switches the file to WAL (kept in the file, so a no-op once done). On a fresh file that
    another process or pool is opening at the same moment, SQLite refuses the switch at once
    with "database is locked" instead of waiting in its busy handler: try again until the busy
    timeout, as the handler would."""
    deadline = time.monotonic() + BUSY_TIMEOUT_SECONDS
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as err:
            if "locked" not in str(err) or time.monotonic() >= deadline:
                raise
            time.sleep(0.01)


@contextmanager
def _writing(engine: Engine) -> Iterator[Connection]:
    with engine.connect() as connection:
        connection.execution_options(**{_WRITES: True})
        with connection.begin():
            yield connection


def _migrate(engine: Engine, url: URL) -> None:
    config = Config()
    config.set_main_option("script_location", MIGRATIONS)
    script = ScriptDirectory.from_config(config)
    head = script.get_current_head()
    known = {revision.revision for revision in script.walk_revisions()}
    with _writing(engine) as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})
        current = MigrationContext.configure(connection).get_current_heads()
        newer = [revision for revision in current if revision not in known]
        if newer:
            raise StoreTooNew(
                f"the store {masked(url)} has schema revision {', '.join(newer)}, newer than this"
                f" Continuum knows (up to {head}): upgrade Continuum, or use another database"
            )
        if current == (head,):
            return
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


class Store:
    """Continuum's own state. Opened on first use, so that building a worker touches nothing;
    a process calls `open()` at its start to fail there, in one line, when the store is unfit.

    `legacy`: today's SQLite files (`sync.db`, `gateway.db`), carried in on the first open.
    """

    def __init__(self, url: str | Path, *, legacy: Sequence[Path] = ()) -> None:
        self._url = _parse(sqlite_url(url) if isinstance(url, Path) else url)
        self.legacy = tuple(legacy)
        self._engine: Engine | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"Store({self.url!r})"

    @property
    def url(self) -> str:
        """The URL with its password masked, fit for a log line."""
        return masked(self._url)

    @property
    def dialect(self) -> str:
        return self._url.get_backend_name()

    def open(self) -> Store:
        self.engine  # noqa: B018 (connects, migrates and carries in today's files)
        return self

    @property
    def engine(self) -> Engine:
        with self._lock:
            if self._engine is None:
                self._engine = self._connect()
            return self._engine

    def _connect(self) -> Engine:
        try:
            engine = _create_engine(self._url)
        except NoSuchModuleError as err:
            raise StoreError(f"no driver for the store {self.url}: {err}") from None
        except OSError as err:
            raise StoreUnreachable(f"cannot reach the store {self.url}: {err}") from None
        try:
            _migrate(engine, self._url)
            if self.legacy:
                legacy.carry_in(lambda: _writing(engine), self.legacy)
        except DBAPIError as err:
            engine.dispose()
            # Connection refused, unknown host, bad password, unwritable file, locked: one line.
            raise StoreUnreachable(
                f"cannot reach the store {self.url}: {_first_line(err)}"
            ) from None
        except BaseException:
            engine.dispose()
            raise
        return engine

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """One transaction that writes: committed at the end of the block, rolled back on error."""
        with _writing(self.engine) as connection:
            yield connection

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self.engine.connect() as connection:
            yield connection

    def insert(self, table: Table) -> postgresql.Insert | sqlite.Insert:
        """An INSERT that knows `ON CONFLICT` (both backends spell it the same)."""
        if self.dialect == "postgresql":
            return postgresql.insert(table)
        return sqlite.insert(table)

    def ping(self) -> None:
        with self.read() as connection:
            connection.execute(text("SELECT 1"))

    def close(self) -> None:
        with self._lock:
            if self._engine is not None:
                self._engine.dispose()
                self._engine = None
