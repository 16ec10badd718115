"""A stand-in for the events publisher in workflow tests: it keeps every batch a process hands
over (signal-with-start, as the real one is reached) and answers what it got by query.

The real publisher delivers to sinks; the processes' side of the contract is the same. The
sandbox re-imports this module: it imports nothing but what a workflow may.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain.events import contract
    from domain.events.models import BusinessEvent, EventBatch, PublisherStart

RECEIVED = "received"


@workflow.defn(name=contract.PUBLISHER_WORKFLOW)
class RecordingPublisher:
    def __init__(self) -> None:
        self._events: list[BusinessEvent] = []

    @workflow.run
    async def run(self, start: PublisherStart) -> None:
        await workflow.wait_condition(lambda: False)

    @workflow.signal(name=contract.PUBLISH)
    def publish(self, batch: EventBatch) -> None:
        self._events.extend(batch.events)

    @workflow.query(name=RECEIVED)
    def received(self) -> list[BusinessEvent]:
        return self._events
