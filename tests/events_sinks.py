"""An EventSink in memory that keeps the port's contract (type filter, TransientError when down),
for the publisher's workflow tests; the real sinks are tested against real servers."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from fnmatch import fnmatchcase

from domain.errors import TransientError
from domain.events.models import BusinessEvent


@dataclass
class MemorySink:
    name: str
    types: tuple[str, ...] = ("*",)
    down: bool = False
    delivered: list[BusinessEvent] = field(default_factory=list)
    refused: int = 0

    def wants(self, event_type: str) -> bool:
        return any(fnmatchcase(event_type, p) for p in self.types)

    async def deliver(self, event: BusinessEvent) -> None:
        if self.down:
            self.refused += 1
            raise TransientError(self.name, "Down", f"{self.name} is down")
        self.delivered.append(event)

    async def close(self) -> None:
        return None

    def sequences(self) -> list[int]:
        return [e.sequence for e in self.delivered]

    async def wait_for(self, count: int, within: float = 30.0) -> None:
        deadline = time.monotonic() + within
        while len(self.delivered) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.name}: {self.sequences()} of {count}")
            await asyncio.sleep(0.02)
