"""A real Tryton 8.2 for the connector tests: one seeded template, one server per test.

The template is made with `python -m services.tryton setup` (about 40 s) once for everything that
makes it the same way: its directory is named by a key of the Tryton distributions' versions, the
set-up's and the demo data's sources and the year (the set-up makes this year's and next year's
fiscal years). It lives in pytest's cache (.pytest_cache, kept between runs; `make clean` drops
it) or, with the cache plugin off, under the session's tmp dir; it is made under a lock, in a
directory of its own that is renamed into place when complete, so a concurrent session waits for
it and an interrupted one leaves nothing half made. Each module that imports the fixture gets its
own copy of it from pytest, and all of them find the one template. `CONTINUUM_TRYTON_TEMPLATE`,
when it names a directory, is used instead (`setup` is idempotent, so a stale one is topped up).
Each test gets its own copy of the SQLite file served on a free port, single-threaded, started
while the test before it ran (`TrytonServers`); the server is stopped after the test, pass or
fail. Without Tryton installed every test that needs it is skipped, saying how to install it.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import importlib.metadata
import importlib.util
import os
import shutil
import subprocess
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from connectors.tryton import TrytonErpClient, TrytonSettings
from continuum.supervisor import ManagedProcess, free_port, http_ok, python_module
from services.tryton.setup import TrytonLayout, write_config

TRYTON_MISSING = importlib.util.find_spec("trytond") is None or (
    importlib.util.find_spec("proteus") is None
)
SKIP_REASON = (
    "Tryton 8.2 is not installed: install the project's `tryton` extra "
    '(trytond, trytond-sale, trytond-stock, trytond-account-invoice, proteus, ... "==8.2.*")'
)
REPO = Path(__file__).resolve().parents[2]


@dataclass
class TrytonServer:
    url: str
    layout: TrytonLayout
    process: ManagedProcess

    def settings(self, **overrides: object) -> TrytonSettings:
        credentials = self.layout.credentials()
        values: dict[str, object] = {
            "url": self.url,
            "database": credentials.database,
            "application_key": credentials.application_key,
            "login": credentials.login,
            "password": credentials.password,
        }
        values.update(overrides)
        return TrytonSettings(**values)  # type: ignore[arg-type]


# What the template is made from: a change to any of these makes a new one.
TEMPLATE_SOURCES = (REPO / "services" / "tryton" / "setup.py", REPO / "services" / "demo_data.py")
COMPLETE = ".complete"


def _tryton_distribution(name: str) -> bool:
    return name.lower().replace("_", "-").startswith(("trytond", "proteus"))


def template_key() -> str:
    versions = sorted(
        f"{dist.metadata['Name']}=={dist.version}"
        for dist in importlib.metadata.distributions()
        if _tryton_distribution(dist.metadata["Name"] or "")
    )
    digest = hashlib.sha256()
    for part in (*versions, str(dt.date.today().year)):
        digest.update(part.encode() + b"\0")
    for source in TEMPLATE_SOURCES:
        digest.update(source.read_bytes())
    return digest.hexdigest()[:16]


def _setup(root: Path) -> None:
    done = subprocess.run(
        python_module("services.tryton", "setup", "--dir", str(root)),
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.fail(f"Tryton setup failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")


def _make_template(root: Path) -> None:
    """`setup` into a directory of its own beside `root`, renamed to `root` once complete."""
    building = root.with_name(f"{root.name}.building-{os.getpid()}")
    shutil.rmtree(building, ignore_errors=True)
    try:
        _setup(building)
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise
    building.rename(root)
    write_config(TrytonLayout(root))  # its config named the directory it was made in
    (root / COMPLETE).touch()


@pytest.fixture(scope="session")
def tryton_template(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> TrytonLayout:
    if TRYTON_MISSING:
        pytest.skip(SKIP_REASON)
    if given := os.environ.get("CONTINUUM_TRYTON_TEMPLATE"):
        _setup(Path(given))
        return TrytonLayout(Path(given).resolve())
    name = f"tryton-template-{template_key()}"
    cache = getattr(request.config, "cache", None)
    if cache is not None:
        home = cache.mkdir("tryton-templates")
    else:
        home = tmp_path_factory.getbasetemp() / "tryton-templates"
        home.mkdir(exist_ok=True)
    root = home / name
    with (home / f"{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another session making the same one: wait for it
        if not (root / COMPLETE).exists():
            shutil.rmtree(root, ignore_errors=True)
            _make_template(root)
    return TrytonLayout(root.resolve())


class TrytonServers:
    """Each test's Tryton, started one test ahead: while a test runs, the next test's server
    (its own copy of the template on its own port) boots beside it, so that a test waits only
    for what is left of that. Each server is still new to its test: nothing has asked it
    anything before (the readiness check is the test's own), and it is stopped after the test.
    """

    def __init__(self, template: TrytonLayout, root: Path) -> None:
        self.template, self.root = template, root
        self.started = 0
        self.spare: TrytonServer | None = None

    def _start(self) -> TrytonServer:
        self.started += 1
        layout = TrytonLayout(self.root / f"tryton-{self.started}")
        write_config(layout)
        shutil.copyfile(self.template.db_file, layout.db_file)
        shutil.copyfile(self.template.credentials_file, layout.credentials_file)
        port = free_port()
        process = ManagedProcess(
            "tryton",
            python_module(
                "services.tryton",
                "serve",
                "--dir",
                str(layout.root),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ),
            log_path=layout.root / f"tryton-{port}.log",
            cwd=REPO,
        ).start()
        return TrytonServer(url=f"http://127.0.0.1:{port}", layout=layout, process=process)

    def take(self) -> TrytonServer:
        """The spare (or a new one), and the next test's spare started."""
        server, self.spare = self.spare or self._start(), None
        self.spare = self._start()
        return server

    def close(self) -> None:
        if self.spare is not None:
            self.spare.process.stop()
            self.spare = None


@pytest.fixture(scope="module")
def tryton_servers(
    tryton_template: TrytonLayout, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TrytonServers]:
    servers = TrytonServers(tryton_template, tmp_path_factory.mktemp("tryton-servers"))
    try:
        yield servers
    finally:
        servers.close()  # the spare nobody took


@pytest.fixture
def tryton_server(tryton_servers: TrytonServers) -> Iterator[TrytonServer]:
    server = tryton_servers.take()
    try:
        server.process.wait_ready(lambda: http_ok(f"{server.url}/"), timeout=60)
        yield server
    finally:
        server.process.stop()


@pytest.fixture
async def tryton(tryton_server: TrytonServer) -> AsyncIterator[TrytonErpClient]:
    client = TrytonErpClient(tryton_server.settings())
    try:
        yield client
    finally:
        await client.aclose()
