"""Payments wait for their due date on durable timers: one timer per due date (UTC start of
the day), an asyncio task of the workflow, so documents and decisions keep arriving meanwhile.
A timer only wakes the purchase; what is paid is worked out afresh then (a credit note that
arrived meanwhile is netted, a payment held by an exception waits)."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, time

from temporalio import workflow


def due_instant(due_on: date) -> datetime:
    return datetime.combine(due_on, time(0), tzinfo=UTC)


def is_due(due_on: date) -> bool:
    return workflow.now() >= due_instant(due_on)


class PaymentTimers:
    def __init__(self) -> None:
        self._timers: dict[date, asyncio.Task[None]] = {}
        self.fired = False  # set by a timer; the purchase resets it when it looks again

    def arm(self, due_on: date) -> None:
        if due_on in self._timers or is_due(due_on):
            return
        self._timers[due_on] = asyncio.create_task(self._wait(due_on))

    async def _wait(self, due_on: date) -> None:
        await workflow.sleep(due_instant(due_on) - workflow.now(), summary=f"payment due {due_on}")
        self.fired = True

    def cancel(self) -> None:
        for task in self._timers.values():
            task.cancel()
