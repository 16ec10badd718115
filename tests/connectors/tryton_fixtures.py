"""A real Tryton 8.2 for the connector tests: one seeded template per session, one server per test.

The template is built once per test session with `python -m services.tryton setup` (about 40 s)
under pytest's tmp dir, or reused from `CONTINUUM_TRYTON_TEMPLATE` when that names a directory
(`setup` is idempotent, so a stale one is topped up). Each test copies the SQLite file and serves
the copy on a free port, single-threaded; the server is stopped after the test, pass or fail.
Without Tryton installed every test that needs it is skipped, saying how to install it.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
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


@pytest.fixture(scope="session")
def tryton_template(tmp_path_factory: pytest.TempPathFactory) -> TrytonLayout:
    if TRYTON_MISSING:
        pytest.skip(SKIP_REASON)
    given = os.environ.get("CONTINUUM_TRYTON_TEMPLATE")
    root = Path(given) if given else tmp_path_factory.getbasetemp() / "tryton-template"
    done = subprocess.run(
        python_module("services.tryton", "setup", "--dir", str(root)),
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.fail(f"Tryton setup failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return TrytonLayout(root.resolve())


@pytest.fixture
def tryton_server(tryton_template: TrytonLayout, tmp_path: Path) -> Iterator[TrytonServer]:
    layout = TrytonLayout(tmp_path / "tryton")
    write_config(layout)
    shutil.copyfile(tryton_template.db_file, layout.db_file)
    shutil.copyfile(tryton_template.credentials_file, layout.credentials_file)
    port = free_port()
    process = ManagedProcess(
        "tryton",
        [
            sys.executable,
            "-m",
            "services.tryton",
            "serve",
            "--dir",
            str(layout.root),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        log_path=tmp_path / f"tryton-{port}.log",
        cwd=REPO,
    ).start()
    url = f"http://127.0.0.1:{port}"
    try:
        process.wait_ready(lambda: http_ok(f"{url}/"), timeout=60)
        yield TrytonServer(url=url, layout=layout, process=process)
    finally:
        process.stop()


@pytest.fixture
async def tryton(tryton_server: TrytonServer) -> AsyncIterator[TrytonErpClient]:
    client = TrytonErpClient(tryton_server.settings())
    try:
        yield client
    finally:
        await client.aclose()
