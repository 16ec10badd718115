"""Business events in workflow tests: a worker that hands events over, to a publisher that
records them (tests.workflows.recording_publisher), and what it got."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import Worker

from domain.events import contract
from domain.events.models import BusinessEvent
from tests.workflows.conftest import Harness
from tests.workflows.recording_publisher import RecordingPublisher
from workers.registry import build_worker


@asynccontextmanager
async def publishing(harness: Harness) -> AsyncIterator[None]:
    """The harness's worker with the hand-over on, and the recording publisher. Time does not
    skip meanwhile: the test server would otherwise time the idle publisher out between two
    hand-overs and the next one would start a fresh run.

    Every shard is stopped at both ends, while a publisher worker still runs: a shard left
    running (an approval child's, whose shard is not the order's) stays bound to this worker's
    sticky queue, and the test server then holds a later test's hand-over and queries to it
    (one CI run: the next test's publisher got nothing in 15 s)."""
    client = harness.env.client
    orders = build_worker(client, harness.task_queue, harness.erp, harness.crm, publish_events=True)
    publisher = Worker(client, task_queue=contract.TASK_QUEUE, workflows=[RecordingPublisher])
    with harness.env.auto_time_skipping_disabled():
        async with orders, publisher:
            await _stop_publishers(client)
            try:
                yield
            finally:
                await _stop_publishers(client)


async def handed_over(
    client: Client, process_id: str, count: int, within: float = 15.0
) -> list[BusinessEvent]:
    """The events the process's publisher (its shard) got, once it has `count` distinct ones.

    A hand-over is a local activity: at least once. When the workflow task that ran it is
    retried (e.g. an activity's news arrived as the order tried to finish), it runs again with
    the same events (same ids and sequences, the retried task's time), and the publisher keeps
    the first of each sequence.
    """
    handle = client.get_workflow_handle(contract.publisher_id(process_id))
    deadline = time.monotonic() + within
    got: list[BusinessEvent] = []
    while time.monotonic() < deadline:
        try:
            got = await handle.query(RecordingPublisher.received)
        except RPCError:  # not started yet
            got = []
        got = [e for e in got if e.process_id == process_id]  # its shard serves others too
        unique = {e.id: e for e in got}
        if len(unique) >= count:
            # Its `time` is the retried task's (workflow.now()); the rest is the same.
            assert all(_same(unique[e.id], e) for e in got), "one id, two different events"
            return sorted(unique.values(), key=lambda e: e.sequence)
        await asyncio.sleep(0.05)
    raise AssertionError(f"{process_id}'s publisher got {len(got)} events, wanted {count}")


def _same(a: BusinessEvent, b: BusinessEvent) -> bool:
    return a.model_copy(update={"time": b.time}) == b


async def _stop_publishers(client: Client) -> None:
    for publisher in contract.publisher_ids():
        handle = client.get_workflow_handle(publisher)
        try:
            running = (await handle.describe()).status is WorkflowExecutionStatus.RUNNING
        except RPCError as e:
            if e.status is not RPCStatusCode.NOT_FOUND:
                raise
            continue
        if running:
            await handle.terminate("test over")
