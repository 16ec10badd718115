"""Replicas as two hosts would run them (issue 17): each process has its own data directory and
environment, and they share only the Temporal dev server, the business systems (reference ERP
and CRM) and one PostgreSQL (pgserver, started here; a fresh database per module).

The shared part is a `Stack` started without its worker; the replicas are `Host`s.
"""

from __future__ import annotations

import shutil
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest
from pgserver.postgres_server import get_server

from continuum.codec import KEY_FILE_ENV, KEY_FILE_NAME, ensure_key_file
from continuum.stack import LOOPBACK, Stack
from continuum.supervisor import ManagedProcess, http_ok, python_module
from tests.integration.conftest import free_ports

pytestmark = pytest.mark.integration


@pytest.fixture(scope="session")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The server's URL for the `postgres` database; stopped and deleted at session end."""
    server = get_server(tmp_path_factory.mktemp("replicas-pg") / "data", cleanup_mode="delete")
    try:
        yield str(server.get_uri())
    finally:
        server.cleanup()


def fresh_database(server_url: str) -> str:
    """A new database on the server, as the store's SQLAlchemy URL."""
    name = f"r_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    base, _, query = server_url.partition("?")
    url = f"{base.rsplit('/', 1)[0]}/{name}" + (f"?{query}" if query else "")
    return url.replace("postgresql://", "postgresql+psycopg://", 1)


@pytest.fixture(scope="module")
def database_url(postgres: str) -> str:
    return fresh_database(postgres)


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Temporal, the ERP, the CRM and the codec endpoint; no worker, no gateway."""
    stack = Stack(tmp_path_factory.mktemp("shared"), free_ports())
    stack.start(with_worker=False)
    try:
        yield stack
    finally:
        stack.stop()


@dataclass
class Host:
    """One machine's replica: its own directory (data, logs, a copy of the codec key) and its
    own environment; what it shares with its peers is in the URLs it is given."""

    name: str
    home: Path
    env: dict[str, str]
    processes: dict[str, ManagedProcess] = field(default_factory=dict)

    def start(self, what: str, module: str, *args: str, ready: str, **env: str) -> ManagedProcess:
        proc = ManagedProcess(
            f"{self.name}-{what}",
            python_module(module, *args),
            log_path=self.home / "logs" / f"{what}.log",
            env={**self.env, **env},
        ).start()
        self.processes[what] = proc
        try:
            proc.wait_ready(lambda: ready in proc.tail(80), timeout=90)
        except BaseException:
            proc.stop()
            raise
        return proc

    def worker(self, **env: str) -> ManagedProcess:
        return self.start("worker", "workers", ready="worker ready", **env)

    def ops_worker(self, **env: str) -> ManagedProcess:
        return self.start("ops-worker", "workers.ops", ready="ops worker ready", **env)

    def gateway(self, port: int) -> ManagedProcess:
        args = ("--host", LOOPBACK, "--port", str(port))
        proc = ManagedProcess(
            f"{self.name}-gateway",
            python_module("services.gateway", *args),
            log_path=self.home / "logs" / "gateway.log",
            env=self.env,
        ).start()
        self.processes["gateway"] = proc
        try:
            proc.wait_ready(lambda: http_ok(f"http://{LOOPBACK}:{port}/healthz"), timeout=60)
        except BaseException:
            proc.stop()
            raise
        return proc

    def identity(self, what: str = "worker") -> str:
        """The Temporal identity its worker polls with (the SDK's default: pid@hostname)."""
        import socket

        return f"{self.processes[what].pid}@{socket.gethostname()}"

    def stop(self) -> None:
        for proc in reversed(list(self.processes.values())):
            proc.stop()


def host(shared: Stack, database_url: str, name: str, root: Path) -> Host:
    home = root / name
    home.mkdir(parents=True)
    env = shared.client_env()
    # Its own copy of the codec key, as a second machine would have (no shared file).
    key = home / KEY_FILE_NAME
    shutil.copy2(ensure_key_file(shared.data_dir / KEY_FILE_NAME), key)
    env.update(
        {
            "CONTINUUM_DATA_DIR": str(home),
            "SYNC_DB": str(home / "sync.db"),
            KEY_FILE_ENV: str(key),
            "CONTINUUM_DATABASE_URL": database_url,
            "WORKER_METRICS_PORT": "0",
            "OPS_METRICS_PORT": "0",
            "ALERT_LOG_FILE": str(home / "alerts.log"),
            "REPORTS_DIR": str(home / "reports"),
        }
    )
    return Host(name, home, env)


@pytest.fixture
def hosts(shared: Stack, database_url: str, tmp_path: Path) -> Iterator[tuple[Host, Host]]:
    """Two hosts, stopped (every process they started) at the end of the test."""
    pair = (
        host(shared, database_url, "host-a", tmp_path),
        host(shared, database_url, "host-b", tmp_path),
    )
    try:
        yield pair
    finally:
        for one in pair:
            one.stop()


def wait_for(check: object, within: float, what: str) -> None:
    """Polls `check()` until true; fails naming `what` after `within` seconds."""
    assert callable(check)
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline, f"{what} within {within:.0f}s"
        time.sleep(0.1)
