"""The ERP→CRM sync's business events, through the real hand-over and publisher (time-skipping
server, an in-memory sink): a page that quarantined records says so, the sync's end says what it
did; the numbering goes on across continue-as-new, and the next sync under the same workflow id
numbers its own events (other ids, another publisher)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.events.handover import EventHandover
from activities.sync import SyncActivities
from continuum.events.config import EventsConfig
from domain.events import contract
from domain.events import sync as events
from domain.events.catalogue import TYPES
from domain.sync.models import SyncInput, SyncResult
from store.sync import SyncStore
from tests.events_sinks import MemorySink
from tests.fakes import InMemoryCrm
from tests.workflows.test_erp_crm_sync import FeedErp
from workers.events import build_events_worker
from workflows.sync.erp_crm_sync import ErpCrmSync


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SyncStore]:
    s = SyncStore(tmp_path / "sync.db")
    yield s
    s.close()


async def test_quarantined_pages_and_the_end_reach_the_subscriber_numbered_across_runs(
    events_env: WorkflowEnvironment, store: SyncStore
) -> None:
    client, run = events_env.client, uuid.uuid4().hex[:8]
    queue, events_queue, workflow_id = f"sync-{run}", f"events-{run}", f"erp-crm-sync-{run}"
    erp, crm, sink = FeedErp(), InMemoryCrm(), MemorySink("all")
    erp.add_customers(6, bad=frozenset({1, 4}))  # one bad e-mail in each page of three
    async with (
        build_events_worker(client, EventsConfig(), [sink], task_queue=events_queue),
        Worker(
            client,
            task_queue=queue,
            workflows=[ErpCrmSync],
            activities=[
                *SyncActivities(erp, crm, store).all(),  # type: ignore[list-item]
                *EventHandover(client, True, task_queue=events_queue).all(),
            ],
        ),
    ):
        first = await client.start_workflow(
            ErpCrmSync.run,
            SyncInput(feeds=["customers"], page_size=3, max_pages_per_run=1),
            id=workflow_id,
            task_queue=queue,
        )
        result: SyncResult = await first.result()
        await sink.wait_for(3)
        # The next sync, under the same id: it re-reads the last record (not a bad one).
        second = await client.start_workflow(
            ErpCrmSync.run, SyncInput(feeds=["customers"]), id=workflow_id, task_queue=queue
        )
        await second.result()
        await sink.wait_for(4)
    assert result.totals.runs >= 2 and result.totals.feeds["customers"].quarantined == 2
    sync_id = first.result_run_id
    assert sync_id is not None
    process = events.process_id(workflow_id, sync_id)
    quarantined_1, quarantined_2, completed, next_completed = sink.delivered
    assert [e.type for e in sink.delivered[:3]] == [
        events.QUARANTINED,
        events.QUARANTINED,
        events.COMPLETED,
    ]
    # One sequence for the whole chain of runs: run 2 went on from run 1's last event.
    assert [e.id for e in sink.delivered[:3]] == [contract.event_id(process, n) for n in (1, 2, 3)]
    assert {e.subject for e in sink.delivered} == {workflow_id}
    assert {e.source for e in sink.delivered} == {events.SOURCE}
    assert (quarantined_1.data["page"], quarantined_1.data["quarantined"]) == (1, 1)
    assert (quarantined_2.data["page"], quarantined_2.data["feed_quarantined"]) == (2, 2)
    assert completed.data["sync_id"] == sync_id and completed.data["runs"] == result.totals.runs
    assert completed.data["records"] == 6 and completed.data["quarantined"] == 2
    assert completed.data["feeds"]["customers"]["upserted"] == {"contacts": 4, "companies": 4}
    assert completed.data["drift"] is None
    # The next sync's events are its own: sequence 1 of another process, another publisher.
    assert next_completed.type == events.COMPLETED and next_completed.sequence == 1
    assert next_completed.process_id != process and next_completed.id not in {
        e.id for e in sink.delivered[:3]
    }
    for event in sink.delivered:  # validates against its type's model, as catalogued
        TYPES[event.type].model_validate(event.data)
        assert "email" not in str(event.data)
