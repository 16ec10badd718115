"""The ERPs Continuum runs on, in one registry: a new ERP joins here and nowhere else.

Each backend describes itself in terms every layer may use: the settings check and the dotted
path of its connector factory for the worker (`workers.connectors` imports it; the kernel never
imports `connectors/`), and the processes the embedded stack runs for it (`continuum.stack`).
Its name is also in `ErpName`, so that the settings, `continuum up --erp` and mypy know it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Literal, get_args

if TYPE_CHECKING:
    from continuum.settings import Settings

# ERP_BACKEND and `continuum up --erp`: one name per entry of ERP_BACKENDS below.
ErpName = Literal["reference", "tryton"]


@dataclass(frozen=True)
class ErpProcess:
    """A `python -m module args…` the stack runs, and the URL path that answers once it serves."""

    module: str
    args: tuple[str, ...]
    ready_path: str = "/healthz"
    ready_timeout: float = 30.0
    # Whether it reads the stack's tokens (ERP_API_TOKEN, ERP_ADMIN_TOKEN) from its environment.
    with_secrets: bool = True


class ErpBackend(ABC):
    """What each layer needs of one ERP; the defaults fit an ERP with no set-up of its own."""

    name: ClassVar[ErpName]
    label: ClassVar[str]  # how people call it: "the {label} ERP", "{label} setup failed"
    help: ClassVar[str]  # its part of `continuum up --help`
    # A callable Settings → ErpPort, as "module:attribute.path" (`pkgutil.resolve_name`).
    connector: ClassVar[str]
    # The stack's fault injection (`Stack.faults["erp"]`) is a feature of the reference ERP.
    takes_faults: ClassVar[bool] = False
    # A prepared home to start from (`Stack.erp_template`) gives these files; the first one
    # marks a home that exists already, which is then left as it is.
    template_files: ClassVar[tuple[str, ...]] = ()
    setup_timeout: ClassVar[float] = 300.0

    @property
    def title(self) -> str:
        return f"{self.label} ERP"

    def home(self, data_dir: Path) -> Path:
        """Where its files live under the stack's data directory."""
        return data_dir

    def configuration_problem(self, settings: Settings) -> str | None:
        """Why the worker cannot build its connector from these settings, or None."""
        return None

    def setup(self, home: Path) -> ErpProcess | None:
        """A step the stack runs to the end before serving (idempotent), or None."""
        return None

    @abstractmethod
    def serve(self, home: Path, host: str, port: int) -> ErpProcess:
        """How the stack serves it on the ERP port."""

    def client_env(self, home: Path) -> dict[str, str]:
        """What a worker or client needs beyond ERP_BACKEND and ERP_URL to reach it."""
        return {}

    def setup_notice(self, home: Path) -> str | None:
        """One line for `continuum up` before a set-up that can take a while."""
        return None

    def where(self, url: str, home: Path) -> str:
        """What `continuum up` shows people for it."""
        return f"{url}/"


class ReferenceErp(ErpBackend):
    """`services.erp`: the reference ERP, seeded with demo data, with fault injection."""

    name = "reference"
    label = "reference"
    help = "the reference ERP"
    connector = "connectors.reference_erp:ReferenceErpClient.from_settings"
    takes_faults = True

    def configuration_problem(self, settings: Settings) -> str | None:
        return None if settings.erp_api_token.get_secret_value() else "ERP_API_TOKEN is not set"

    def serve(self, home: Path, host: str, port: int) -> ErpProcess:
        db = str(home / "erp.db")
        args = ("--host", host, "--port", str(port), "--db", db, "--seed", "demo")
        return ErpProcess("services.erp", args)

    def where(self, url: str, home: Path) -> str:
        return f"{url}/docs"


class TrytonErp(ErpBackend):
    """A real Tryton 8.2 under `<data dir>/tryton`, made by `python -m services.tryton setup`
    (about 50 s the first time, seconds after) and served single-threaded."""

    name = "tryton"
    label = "Tryton"
    help = "a real Tryton 8.2 (set up on first use)"
    connector = "connectors.tryton:TrytonErpClient.from_settings"
    # What `services.tryton setup --dir D` makes under D (see services.tryton.setup).
    DB_FILE = "continuum.sqlite"
    CREDENTIALS_FILE = "api-credentials.json"
    SEED_STAMP = "seeded"  # services.tryton.setup.SEED_STAMP: a copy needs no seeding again
    template_files = (DB_FILE, CREDENTIALS_FILE, SEED_STAMP)

    def home(self, data_dir: Path) -> Path:
        return data_dir / "tryton"

    def configuration_problem(self, settings: Settings) -> str | None:
        path = settings.tryton_credentials_file
        if path is None:
            return (
                "ERP_BACKEND=tryton needs TRYTON_CREDENTIALS_FILE: the api-credentials.json "
                "that `python -m services.tryton setup --dir D` writes under D"
            )
        if not path.is_file():
            return (
                f"TRYTON_CREDENTIALS_FILE {path} does not exist: "
                "run `python -m services.tryton setup --dir D` first"
            )
        return None

    def setup(self, home: Path) -> ErpProcess:
        return ErpProcess("services.tryton", ("setup", "--dir", str(home)))

    def serve(self, home: Path, host: str, port: int) -> ErpProcess:
        args = ("serve", "--dir", str(home), "--host", host, "--port", str(port))
        return ErpProcess(
            "services.tryton", args, ready_path="/", ready_timeout=60.0, with_secrets=False
        )

    def client_env(self, home: Path) -> dict[str, str]:
        return {"TRYTON_CREDENTIALS_FILE": str(home / self.CREDENTIALS_FILE)}

    def setup_notice(self, home: Path) -> str:
        first = not (home / self.CREDENTIALS_FILE).exists()
        return f"Tryton lives in {home}; " + (
            "setting it up for the first time (database, demo data, API user: about 50 s)…"
            if first
            else "checking its setup (a few seconds)…"
        )

    def where(self, url: str, home: Path) -> str:
        return f"{url}/ (credentials: {home / self.CREDENTIALS_FILE})"


ERP_BACKENDS: dict[ErpName, ErpBackend] = {
    backend.name: backend for backend in (ReferenceErp(), TrytonErp())
}
if set(get_args(ErpName)) != set(ERP_BACKENDS):
    raise RuntimeError(f"ErpName {get_args(ErpName)} and ERP_BACKENDS {list(ERP_BACKENDS)} differ")
