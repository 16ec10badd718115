"""Failures and holds a test scripts on a fake system, per method name."""

from __future__ import annotations

import asyncio
from collections import Counter

from domain.errors import IntegrationError


class Scripted:
    """Failures and holds a test sets per method name."""

    def __init__(self) -> None:
        self.fail: dict[str, IntegrationError] = {}
        self.holds: dict[str, asyncio.Event] = {}
        self.entered: dict[str, asyncio.Event] = {}
        self.calls: Counter[str] = Counter()

    def hold(self, method: str) -> asyncio.Event:
        """The next calls to `method` wait until the returned event is set."""
        self.holds[method] = asyncio.Event()
        self.entered[method] = asyncio.Event()
        return self.holds[method]

    async def enter(self, method: str) -> None:
        self.calls[method] += 1
        if method in self.entered:
            self.entered[method].set()
        if method in self.holds:
            await self.holds[method].wait()
        if method in self.fail:
            raise self.fail[method]
