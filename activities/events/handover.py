"""Hands a process's events to its publisher (its shard): one signal-with-start, run as a local
activity so that it costs the process one marker event and waits for the Temporal server only.

Safe to repeat: a retried or replayed hand-over carries the same event ids and sequences, and
the publisher drops a sequence it already has.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from temporalio import activity
from temporalio.client import Client

from domain.events import contract
from domain.events.models import Handover, HandoverResult, PublisherStart


class EventHandover:
    def __init__(
        self, client: Client, enabled: bool, task_queue: str = contract.TASK_QUEUE
    ) -> None:
        self.client = client
        self.task_queue = task_queue  # the events worker's
        # False when this deployment has no event sinks: the process's command sequence stays
        # the same (the marker is recorded either way), nothing is started.
        self.enabled = enabled

    @activity.defn(name="hand_over_events")
    async def hand_over(self, handover: Handover) -> HandoverResult:
        if not self.enabled or not handover.batch.events:
            return HandoverResult(handed_over=0)
        publisher = contract.publisher_id(handover.batch.events[0].process_id, self.task_queue)
        await self.client.start_workflow(
            contract.PUBLISHER_WORKFLOW,
            PublisherStart(key=publisher),
            id=publisher,
            task_queue=self.task_queue,
            start_signal=contract.PUBLISH,
            start_signal_args=[handover.batch],
        )
        return HandoverResult(handed_over=len(handover.batch.events))

    def all(self) -> list[Callable[..., Any]]:
        return [self.hand_over]
