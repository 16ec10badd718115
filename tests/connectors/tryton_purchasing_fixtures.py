"""One real Tryton per test module for the purchasing tests (on the session's seeded template).

The purchasing tests keep to their own requisitions, suppliers' documents and counts, so they
can share a server: starting one costs seconds, a module of tests one start. The server is
stopped when the module ends, pass or fail.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from connectors.tryton import TrytonErpClient
from continuum.supervisor import ManagedProcess, free_port, http_ok
from services.tryton.setup import TrytonLayout, write_config
from tests.connectors.tryton_fixtures import REPO, TrytonServer


@pytest.fixture(scope="module")
def tryton_module_server(
    tryton_template: TrytonLayout, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TrytonServer]:
    root = tmp_path_factory.mktemp("tryton-module")
    layout = TrytonLayout(root / "tryton")
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
        log_path=Path(root) / f"tryton-{port}.log",
        cwd=REPO,
    ).start()
    url = f"http://127.0.0.1:{port}"
    try:
        process.wait_ready(lambda: http_ok(f"{url}/"), timeout=60)
        yield TrytonServer(url=url, layout=layout, process=process)
    finally:
        process.stop()


@pytest.fixture
async def purchasing(tryton_module_server: TrytonServer) -> AsyncIterator[TrytonErpClient]:
    client = TrytonErpClient(tryton_module_server.settings())
    try:
        yield client
    finally:
        await client.aclose()
