"""The wheel works anywhere: built from this checkout, installed into a fresh virtualenv in a
temporary directory away from it, it runs the CLI, finds its shipped configuration and migrations
through importlib.resources, and starts a worker against a dev server."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from continuum.supervisor import ManagedProcess, free_port, port_in_use, wait_until

CHECKOUT = Path(__file__).resolve().parents[2]
UV = Path(sys.executable).with_name("uv")


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The bin/ of a fresh virtualenv holding only the wheel and its dependencies."""
    work = tmp_path_factory.mktemp("wheel")
    run([str(UV), "build", "--wheel", "--out-dir", str(work / "dist"), str(CHECKOUT)], work)
    [wheel] = (work / "dist").glob("continuum-*.whl")
    run([str(UV), "venv", "--quiet", "--python", sys.executable, str(work / "venv")], work)
    python = work / "venv" / "bin" / "python"
    run([str(UV), "pip", "install", "--quiet", "--python", str(python), str(wheel)], work)
    yield python.parent


def run(argv: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        argv, cwd=cwd, env=_away(env), capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, f"{argv[0]} failed:\n{done.stdout}\n{done.stderr}"
    return done


def _away(extra: dict[str, str]) -> dict[str, str]:
    """This environment without anything that points back at the checkout."""
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "VIRTUAL_ENV"}}
    env["PATH"] = os.pathsep.join(
        p for p in env.get("PATH", "").split(os.pathsep) if not p.startswith(str(CHECKOUT))
    )
    return {**env, **extra}


def test_the_cli_runs_from_the_wheel(installed: Path, tmp_path: Path) -> None:
    shown = run([str(installed / "continuum"), "--help"], tmp_path)
    assert "Continuum: business processes that must not stop." in shown.stdout


def test_the_shipped_configuration_and_migrations_are_found(
    installed: Path, tmp_path: Path
) -> None:
    probe = (
        "import continuum, store\n"
        "from continuum.approvals.config import load_approval_policy\n"
        "from continuum.defaults import WEBHOOKS\n"
        "from services.gateway.events import EventMap\n"
        "policy = load_approval_policy()\n"
        "print(continuum.__file__, store.__file__)\n"
        "print(policy.amount_threshold, sorted(EventMap.load(WEBHOOKS).sources))\n"
    )
    shown = run([str(installed / "python"), "-c", probe], tmp_path).stdout.splitlines()
    assert str(CHECKOUT) not in shown[0] and "site-packages" in shown[0]
    assert shown[1] == "5000 ['carrier', 'payments', 'shop', 'supplier', 'warehouse']"


def test_a_worker_from_the_wheel_starts_against_a_dev_server(
    installed: Path, tmp_path: Path
) -> None:
    port = free_port()
    server = ManagedProcess(
        "temporal",
        [
            str(installed / "temporal"),
            "server",
            "start-dev",
            "--headless",
            "--port",
            str(port),
            "--ui-port",
            str(free_port()),
            "--db-filename",
            str(tmp_path / "temporal.db"),
        ],
        log_path=tmp_path / "temporal.log",
        env=_away({}),
        cwd=tmp_path,
    ).start()
    worker = ManagedProcess(
        "worker",
        [str(installed / "python"), "-m", "workers"],
        log_path=tmp_path / "worker.log",
        env=_away(
            {
                "TEMPORAL_ADDRESS": f"127.0.0.1:{port}",
                "CONTINUUM_DATA_DIR": str(tmp_path / "data"),
                "ERP_URL": f"http://127.0.0.1:{free_port()}",
                "ERP_API_TOKEN": "unused-here",
                "CRM_URL": f"http://127.0.0.1:{free_port()}",
                "CRM_API_TOKEN": "unused-here",
                "WORKER_METRICS_PORT": "0",
            }
        ),
        cwd=tmp_path,
    )
    try:
        wait_until(lambda: port_in_use(port), 60, "the dev server to listen")
        worker.start()
        worker.wait_ready(lambda: "worker ready" in worker.tail(50), timeout=90)
        assert worker.stop(timeout=30) == 0
    finally:
        worker.stop()
        server.stop()
    assert (tmp_path / "data" / "continuum.db").exists()  # its store, migrated at start
