"""The EventPublisher on the time-skipping server with in-memory sinks: each sequence delivered
once and in order to each sink, a sink that is down delaying only itself, continue-as-new that
loses nothing, and completion when idle."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any

from temporalio import activity, workflow
from temporalio.client import WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from activities.events.delivery import EventDelivery
from continuum.events.config import EventsConfig
from domain.events import contract
from domain.events.models import EventBatch, PublisherStart, PublisherState
from domain.events.privacy import Privacy
from tests.events_samples import batch
from tests.events_sinks import MemorySink
from workers.events import EVENT_WORKFLOWS, build_events_worker
from workflows import search_attributes as sa
from workflows.events_publisher import EventPublisher

Handle = WorkflowHandle[EventPublisher, PublisherState]


class Bench:
    def __init__(self, env: WorkflowEnvironment, *sinks: MemorySink) -> None:
        self.env = env
        self.sinks = sinks
        self.task_queue = f"events-{uuid.uuid4().hex[:8]}"
        self.process_id = f"order-{uuid.uuid4().hex[:8]}"
        self.publisher = contract.publisher_id(self.process_id, self.task_queue)

    @asynccontextmanager
    async def worker(self) -> AsyncIterator[None]:
        worker = build_events_worker(
            self.env.client, EventsConfig(), self.sinks, task_queue=self.task_queue
        )
        async with worker:
            yield

    async def hand_over(self, events: EventBatch, **start: Any) -> Handle:
        """As the process's hand-over does: signal-with-start, tried again as the local
        activity's retry would be. The time-skipping server answers NOT_FOUND ("Completed
        workflow") to a signal-with-start that meets the run continuing as new."""
        for attempt in range(20):
            try:
                return await self.env.client.start_workflow(
                    EventPublisher.run,
                    PublisherStart(key=self.publisher, **start),
                    id=self.publisher,
                    task_queue=self.task_queue,
                    start_signal=contract.PUBLISH,
                    start_signal_args=[events],
                )
            except RPCError as err:
                if err.status != RPCStatusCode.NOT_FOUND or attempt == 19:
                    raise
                await asyncio.sleep(0.05)
        raise AssertionError("unreachable")

    def batch(self, *sequences: int) -> EventBatch:
        return batch(*sequences, process_id=self.process_id)


async def test_each_sequence_reaches_each_sink_once_in_order(
    events_env: WorkflowEnvironment,
) -> None:
    a, b = MemorySink("a"), MemorySink("b", types=("order.paid.v1",))
    bench = Bench(events_env, a, b)
    async with bench.worker():
        handle = await bench.hand_over(bench.batch(1, 2, 3))
        await bench.hand_over(bench.batch(2, 3, 4))  # a retried hand-over, and one new
        await bench.hand_over(bench.batch(5))
        state = await handle.result()  # idle for 10 minutes (skipped): done
    assert a.sequences() == [1, 2, 3, 4, 5]
    assert b.delivered == []  # it wants order.paid.v1 only: passed over, not held back
    assert (state.received, state.duplicates, state.pending) == (5, 2, [])
    assert state.lanes == {"a": 5, "b": 5}


async def publisher_state(
    handle: WorkflowHandle[Any, Any], done: Callable[[PublisherState], bool], within: float = 15.0
) -> PublisherState:
    """The publisher's state once `done` holds (bounded: fails with the last state seen)."""
    deadline = time.monotonic() + within
    while not done(state := await handle.query(EventPublisher.state)):
        if time.monotonic() > deadline:
            raise AssertionError(f"the publisher never got there: {state}")
        await asyncio.sleep(0.05)
    return state


async def test_a_sink_that_is_down_delays_only_its_own_deliveries(
    events_env: WorkflowEnvironment,
) -> None:
    up, down = MemorySink("up"), MemorySink("down", down=True)
    bench = Bench(events_env, up, down)
    async with bench.worker():
        handle = await bench.hand_over(bench.batch(1, 2))
        await up.wait_for(2)
        await bench.hand_over(bench.batch(3))
        await up.wait_for(3)  # while the other one refuses
        # The sink has the third event; the publisher learns so when the activity completes.
        held = await publisher_state(handle, lambda s: s.lanes.get("up") == 3)
        assert [e.sequence for e in held.pending] == [1, 2, 3] and down.refused >= 1
        assert held.lanes == {"up": 3, "down": 0}
        # Its quick try failed and the durable activity retries: the publisher shows its lag.
        assert await shown(handle) == (contract.DELIVERING, held.pending[0].time)
        down.down = False
        await events_env.sleep(timedelta(minutes=2))  # past the next retry (at most a minute)
        await down.wait_for(3)
        state = await handle.result()
    assert up.sequences() == down.sequences() == [1, 2, 3]
    assert state.pending == []
    assert (await shown(handle))[0] == contract.IDLE


async def shown(handle: Handle) -> tuple[str | None, datetime | None]:
    """The publisher's ProcessStatus and StateSince, as the watchdog reads them."""
    attributes = (await handle.describe()).typed_search_attributes
    return attributes.get(sa.PROCESS_STATUS), attributes.get(sa.STATE_SINCE)


async def test_a_healthy_hand_over_costs_the_shard_a_signal_and_a_marker(
    events_env: WorkflowEnvironment,
) -> None:
    """Each delivery a local activity's one marker: no activity, no status upserted per
    hand-over, one idle timer at a time for the run."""
    a = MemorySink("a")
    bench = Bench(events_env, a)
    async with bench.worker():
        handle = await bench.hand_over(bench.batch(1))
        for n in range(2, 12):
            await a.wait_for(n - 1)
            await bench.hand_over(bench.batch(n))
        await handle.result()
    assert a.sequences() == list(range(1, 12))
    kinds = Counter(e.WhichOneof("attributes") for e in (await handle.fetch_history()).events)
    assert kinds["workflow_execution_signaled_event_attributes"] == 11
    # The patch, the sinks' lookup, and one delivery per hand-over.
    assert kinds["marker_recorded_event_attributes"] == 2 + 11
    assert kinds["activity_task_scheduled_event_attributes"] == 0
    # The patch's version and the status once (Idle).
    assert kinds["upsert_workflow_search_attributes_event_attributes"] == 2
    assert kinds["timer_started_event_attributes"] <= 2
    assert (await shown(handle))[0] == contract.IDLE


async def test_continue_as_new_loses_and_repeats_nothing(events_env: WorkflowEnvironment) -> None:
    a = MemorySink("a")
    bench = Bench(events_env, a)
    async with bench.worker():
        handle = await bench.hand_over(bench.batch(1), continue_after_events=100)
        for n in range(2, 41):
            await bench.hand_over(bench.batch(n))
            await a.wait_for(n)
        state = await handle.result()
    assert a.sequences() == list(range(1, 41))
    assert state.runs > 1 and state.received == 40 and state.duplicates == 0


async def test_a_continued_run_delivers_what_it_carried(events_env: WorkflowEnvironment) -> None:
    """The state a run hands to the next: `late` had nothing yet, `a` had 1 and 2."""
    a, late = MemorySink("a"), MemorySink("late")
    bench = Bench(events_env, a, late)
    held = bench.batch(1, 2)
    carried = PublisherState(
        key=bench.publisher,
        pending=held.events,
        last_offset=2,
        seen={bench.process_id: 2},
        lanes={"a": 2, "late": 0},
        received=2,
        runs=2,
    )
    async with bench.worker():
        handle = await bench.hand_over(bench.batch(2, 3), state=carried)
        state = await handle.result()
    assert a.sequences() == [3] and late.sequences() == [1, 2, 3]
    assert (state.received, state.duplicates, state.runs) == (3, 1, 2)


async def test_it_completes_when_idle_and_a_later_event_starts_a_fresh_run(
    events_env: WorkflowEnvironment,
) -> None:
    a = MemorySink("a")
    bench = Bench(events_env, a)
    async with bench.worker():
        first = await bench.hand_over(bench.batch(1, 2), idle_after=timedelta(minutes=5))
        await first.result()
        second = await bench.hand_over(bench.batch(3))
        assert second.result_run_id != first.result_run_id
        state = await second.result()
    assert a.sequences() == [1, 2, 3] and state.received == 1


def test_the_events_worker_registers_the_publisher_and_its_activities() -> None:
    assert [workflow._Definition.must_from_class(c).name for c in EVENT_WORKFLOWS] == [
        contract.PUBLISHER_WORKFLOW
    ]
    steps = EventDelivery([], Privacy()).all()
    names = {activity._Definition.must_from_callable(fn).name: fn.__name__ for fn in steps}
    assert names == {contract.EVENT_SINKS: "event_sinks", contract.DELIVER_EVENTS: "deliver_events"}
