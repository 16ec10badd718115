"""A process's business events: numbered in order, handed to the process's publisher.

`emit` is synchronous and cheap to call at any status change; the events emitted within one
workflow task go over in one local activity (one marker event in the process's history).
`flush` waits until everything emitted has been handed over: a process awaits it before it
returns, so that no event is left behind when it closes.

The whole feature sits behind one patch per process (`patch`), checked at the first emit: a
history recorded before it replays without the markers.

A process may let an event wait for its next one (`emit(..., hold=True)`), behind a second
patch (`hold_patch`, asked at the first such emit): each hand-over is a signal to the publisher
and a workflow task there, so an event followed within one step by another goes over with it.
The process's next event, `release` or `flush` hands over what is held: a held event is late by
at most the step after it.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from pydantic import BaseModel
from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.events.handover import EventHandover
    from domain.events import contract
    from domain.events.models import BusinessEvent, EventBatch, Handover

# The hand-over talks to the Temporal server only; it retries without limit (a server the
# worker cannot reach cannot record the process's progress either).
HANDOVER_TIMEOUT = timedelta(seconds=10)
_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=200), maximum_interval=timedelta(seconds=10)
)


class Events:
    def __init__(
        self,
        process_id: str,
        source: str,
        patch: str,
        sequence: int = 0,
        hold_patch: str | None = None,
    ) -> None:
        self.process_id = process_id
        self.source = source
        self.patch = patch
        self.sequence = sequence  # the last sequence emitted (carried across continue-as-new)
        self.hold_patch = hold_patch
        self._on: bool | None = None
        self._hold: bool | None = None
        self._pending: list[BusinessEvent] = []
        self._sending: asyncio.Task[None] | None = None

    def emit(
        self, type: str, subject: str, data: BaseModel | dict[str, Any], *, hold: bool = False
    ) -> None:
        if self._on is None:
            self._on = workflow.patched(self.patch)
        if not self._on:
            return
        self.sequence += 1
        payload = data.model_dump(mode="json") if isinstance(data, BaseModel) else data
        self._pending.append(
            BusinessEvent(
                id=contract.event_id(self.process_id, self.sequence),
                source=self.source,
                type=type,
                subject=subject,
                time=workflow.now(),
                process_id=self.process_id,
                sequence=self.sequence,
                data=payload,
            )
        )
        if not (hold and self._holds()):
            self.release()

    def release(self) -> None:
        """Hands over what is held, now (a process about to stop, wait or end)."""
        if self._pending and (self._sending is None or self._sending.done()):
            self._sending = asyncio.ensure_future(self._send())

    async def flush(self) -> None:
        self.release()
        while self._sending is not None and not self._sending.done():
            await self._sending

    def _holds(self) -> bool:
        if self.hold_patch is None:
            return False
        if self._hold is None:
            self._hold = workflow.patched(self.hold_patch)
        return self._hold

    async def _send(self) -> None:
        # Yield once so that every event emitted in this workflow task joins the batch.
        await asyncio.sleep(0)
        while self._pending:
            batch, self._pending = self._pending, []
            await workflow.execute_local_activity_method(
                EventHandover.hand_over,
                Handover(batch=EventBatch(events=batch)),
                start_to_close_timeout=HANDOVER_TIMEOUT,
                retry_policy=_RETRY,
                summary=f"hand over {len(batch)} event(s)",
            )
