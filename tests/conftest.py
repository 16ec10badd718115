"""Fixtures shared by the whole suite: reference services as real processes on free ports."""

from __future__ import annotations

import base64
import os
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from continuum.codec import KEYS_ENV
from continuum.supervisor import ManagedProcess, free_port, http_ok, python_module

# One codec key for the session, inherited by every process started here: the suite runs
# encrypted, as production does, and never picks up a developer's .data/codec-keys.json.
os.environ[KEYS_ENV] = f"test-session:{base64.b64encode(os.urandom(32)).decode()}"
# Business events off unless a test configures them: no publishers in tests about other things.
os.environ["EVENTS_CONFIG_FILE"] = str(Path(__file__).parent / "events_off.toml")


@dataclass
class ServiceHandle:
    """A reference service (ERP or CRM) running as its own process."""

    name: str
    url: str
    api_token: str
    admin_token: str
    db_path: Path
    process: ManagedProcess


ServiceFactory = Callable[..., ServiceHandle]


def _launch(
    kind: str,
    tmp_path: Path,
    *,
    seed: str = "demo",
    faults: str | None = None,
    db: Path | None = None,
    extra_args: tuple[str, ...] = (),
) -> ServiceHandle:
    """The service's process, started; `_ready` waits for it to answer."""
    port = free_port()
    db_path = db or tmp_path / f"{kind}.db"
    api_token, admin_token = secrets.token_hex(16), secrets.token_hex(16)
    argv = python_module(
        f"services.{kind}", "--host", "127.0.0.1", "--port", str(port), "--db", str(db_path)
    )
    argv += ["--seed", seed]
    if faults:
        argv += ["--faults", faults]
    argv += list(extra_args)
    prefix = kind.upper()
    process = ManagedProcess(
        kind,
        argv,
        log_path=tmp_path / f"{kind}-{port}.log",
        env={f"{prefix}_API_TOKEN": api_token, f"{prefix}_ADMIN_TOKEN": admin_token},
    ).start()
    url = f"http://127.0.0.1:{port}"
    return ServiceHandle(kind, url, api_token, admin_token, db_path, process)


def _ready(handle: ServiceHandle) -> ServiceHandle:
    handle.process.wait_ready(lambda: http_ok(f"{handle.url}/healthz"), timeout=30)
    return handle


DEFAULTS: dict[str, object] = {"seed": "demo", "faults": None, "db": None, "extra_args": ()}


class Spares:
    """The next default service (demo seed, no faults, a new database of its own) of each kind,
    started while the test before runs: most tests ask for exactly that, and then wait only
    for what is left of its start. Nothing has asked it anything before its test does."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.spares: dict[str, ServiceHandle] = {}
        self.started = 0

    def take(self, kind: str) -> ServiceHandle:
        handle = self.spares.pop(kind, None) or self._launch(kind)
        self.spares[kind] = self._launch(kind)
        return handle

    def _launch(self, kind: str) -> ServiceHandle:
        self.started += 1
        home = self.root / f"{kind}-{self.started}"
        home.mkdir()
        return _launch(kind, home)

    def stop(self) -> None:
        for handle in self.spares.values():
            handle.process.stop()
        self.spares.clear()


@pytest.fixture(scope="module")
def service_spares(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Spares]:
    spares = Spares(tmp_path_factory.mktemp("services"))
    try:
        yield spares
    finally:
        spares.stop()  # the spares no test took


def _factory(kind: str, tmp_path: Path, spares: Spares) -> Iterator[ServiceFactory]:
    started: list[ServiceHandle] = []

    def start(**kwargs: object) -> ServiceHandle:
        if {**DEFAULTS, **kwargs} == DEFAULTS:
            handle = spares.take(kind)
        else:
            handle = _launch(kind, tmp_path, **kwargs)  # type: ignore[arg-type]
        started.append(handle)
        return _ready(handle)

    try:
        yield start
    finally:
        for handle in started:
            handle.process.stop()


@pytest.fixture
def erp_factory(tmp_path: Path, service_spares: Spares) -> Iterator[ServiceFactory]:
    """Starts reference ERPs: `erp_factory(seed="demo", faults='{"error_rate": 0.2}')`."""
    yield from _factory("erp", tmp_path, service_spares)


@pytest.fixture
def crm_factory(tmp_path: Path, service_spares: Spares) -> Iterator[ServiceFactory]:
    yield from _factory("crm", tmp_path, service_spares)


@pytest.fixture
def erp_service(erp_factory: ServiceFactory) -> ServiceHandle:
    return erp_factory()


@pytest.fixture
def crm_service(crm_factory: ServiceFactory) -> ServiceHandle:
    return crm_factory()


@pytest.fixture(scope="module")
def module_erp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceHandle]:
    """One demo-seeded reference ERP for a whole module, whose tests each use their own records
    (and put back any faults they inject)."""
    handle = _ready(_launch("erp", tmp_path_factory.mktemp("erp")))
    try:
        yield handle
    finally:
        handle.process.stop()


def _skips_failing_ci(config: pytest.Config) -> list[pytest.TestReport]:
    """In CI (CI=true) a skipped test fails the run: a skip there means an install step is
    missing (Debian's chromium for the browser tests, the `tryton` extra), not a test to drop."""
    if os.environ.get("CI", "").lower() not in {"1", "true", "yes"}:
        return []
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    return list(reporter.stats.get("skipped", [])) if reporter is not None else []


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _skips_failing_ci(session.config) and exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, exitstatus: int, config: pytest.Config
) -> None:
    skipped = _skips_failing_ci(config)
    if not skipped:
        return
    terminalreporter.section("skipped tests fail CI", sep="=", red=True, bold=True)
    for report in skipped:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else ""
        terminalreporter.line(f"{report.nodeid}: {reason}")
    terminalreporter.line(f"{len(skipped)} skipped: install what they need (.ci/run, make test)")
