"""The IncidentRepair workflow's own logic on a local dev server, its activities scripted: the
canary's verdict, what stops a job, waves at the plan's rate, what it shows while it runs, the
audit it writes; and the recorded job replays on today's code."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistory
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from continuum.converter import data_converter
from domain.incidents.contract import ItemOutcome
from domain.incidents.steps import Acted, ItemActed
from domain.visibility import PROCESS_STATUS, STATE_SINCE
from tests.workflows.repair_harness import (
    HISTORIES,
    Scripted,
    dev_server,
    plan,
    repair_worker,
    start,
)
from workers.incidents import REPAIR_WORKFLOWS


@pytest.fixture(scope="module")
async def env() -> AsyncIterator[WorkflowEnvironment]:
    async with dev_server() as server:
        yield server


def outcomes(progress: object) -> list[tuple[str, ItemOutcome]]:
    return [(r.workflow_id, r.outcome) for r in progress.results]  # type: ignore[attr-defined]


async def test_canary_then_the_rest_in_waves_at_the_plans_rate_each_checked(
    env: WorkflowEnvironment,
) -> None:
    scripted = Scripted(fixed={f"order-H-{n}" for n in range(1, 6)})
    async with repair_worker(env.client, scripted) as queue:
        handle = await start(env.client, queue, plan(5, canary=1, rate_per_second=2.0))
        progress = await handle.result()
        described = await handle.describe()
        history = await handle.fetch_history()
    assert progress.canary_passed is True and progress.done == 5
    assert outcomes(progress) == [(f"order-H-{n}", ItemOutcome.FIXED) for n in range(1, 6)]
    assert scripted.acted == [f"order-H-{n}" for n in range(1, 6)]
    # Four after the canary at two a second: waves of two, a wait between them, none after.
    timers = [e for e in history.events if e.event_type == EventType.EVENT_TYPE_TIMER_STARTED]
    assert len(timers) == 1
    assert [(r.event, len(r.results)) for r in scripted.records] == [
        ("item", 1),
        ("canary", 0),
        ("item", 4),
        ("finished", 0),
    ]
    attributes = {p.key.name: p.value for p in described.typed_search_attributes}
    assert attributes[PROCESS_STATUS.name] == "Done"
    assert isinstance(attributes[STATE_SINCE.name], datetime)
    assert "5 fixed" in scripted.records[-1].detail


async def test_a_refused_canary_stops_the_job_and_leaves_the_rest_alone(
    env: WorkflowEnvironment,
) -> None:
    refused = ItemActed(acted=Acted.FAILED, detail="Temporal refused: activity not found")
    scripted = Scripted(answers={"order-H-1": refused})
    async with repair_worker(env.client, scripted) as queue:
        handle = await start(env.client, queue, plan(3, canary=1))
        progress = await handle.result()
    assert progress.canary_passed is False
    assert progress.stopped == (
        "the canary failed: order-H-1: Temporal refused: activity not found"
    )
    assert outcomes(progress) == [
        ("order-H-1", ItemOutcome.FAILED),
        ("order-H-2", ItemOutcome.SKIPPED),
        ("order-H-3", ItemOutcome.SKIPPED),
    ]
    assert progress.results[1].detail.startswith("not applied: the canary failed")
    assert scripted.acted == ["order-H-1"]
    assert [r.event for r in scripted.records] == ["item", "canary", "item", "stopped"]


async def test_a_skipped_process_is_not_the_canary_and_an_unfixed_one_is_said_so(
    env: WorkflowEnvironment,
) -> None:
    moved = ItemActed(acted=Acted.SKIPPED, detail="skipped: its status is now Completed")
    scripted = Scripted(answers={"order-H-1": moved}, fixed={"order-H-2"})
    async with repair_worker(env.client, scripted) as queue:
        progress = await (
            await start(env.client, queue, plan(3, canary=1, params={"check_within": "2s"}))
        ).result()
    assert progress.canary_passed is True
    assert outcomes(progress) == [
        ("order-H-1", ItemOutcome.SKIPPED),
        ("order-H-2", ItemOutcome.FIXED),
        ("order-H-3", ItemOutcome.NOT_FIXED),
    ]
    assert progress.results[2].detail == (
        "confirm_delivery still pending (attempt 1, last failure: 503) (after 0:00:02)"
    )


async def test_a_plan_that_expired_before_the_job_began_acts_on_nothing(
    env: WorkflowEnvironment,
) -> None:
    scripted = Scripted()
    old = datetime.now(UTC) - timedelta(hours=2)
    async with repair_worker(env.client, scripted) as queue:
        progress = await (await start(env.client, queue, plan(2, created_at=old))).result()
    assert progress.stopped and progress.stopped.startswith("the plan expired at")
    assert [o for _, o in outcomes(progress)] == [ItemOutcome.SKIPPED] * 2
    assert scripted.acted == []


async def test_a_long_plan_goes_on_in_a_new_run_acting_on_each_process_once() -> None:
    # The server suggests a new run after 40 events (by default after thousands).
    async with dev_server("limit.historyCount.suggestContinueAsNew=40") as server:
        scripted = Scripted(fixed={f"order-H-{n}" for n in range(1, 9)})
        async with repair_worker(server.client, scripted) as queue:
            handle = await start(server.client, queue, plan(8, canary=0, rate_per_second=2.0))
            first_run = (await handle.describe()).run_id
            progress = await handle.result()
            last_run = (await handle.describe()).run_id
            first = server.client.get_workflow_handle(handle.id, run_id=first_run)
            events = (await first.fetch_history()).events
    assert last_run != first_run
    assert events[-1].event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW
    assert scripted.acted == [f"order-H-{n}" for n in range(1, 9)]
    assert [wid for wid, _ in outcomes(progress)] == scripted.acted
    assert progress.done == progress.total == 8
    audited = [r.workflow_id for rec in scripted.records for r in rec.results]
    assert sorted(audited) == sorted(scripted.acted)


@pytest.mark.parametrize("path", sorted(HISTORIES.glob("*.json")), ids=lambda p: p.stem)
async def test_the_recorded_job_replays(path: object) -> None:
    text = path.read_text()  # type: ignore[attr-defined]
    history = WorkflowHistory.from_json(path.stem, text)  # type: ignore[attr-defined]
    replayer = Replayer(workflows=list(REPAIR_WORKFLOWS), data_converter=data_converter())
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, f"{path} no longer replays: {result.replay_failure}"


async def test_a_plan_that_lists_a_process_twice_acts_on_nothing(env: WorkflowEnvironment) -> None:
    scripted = Scripted()
    twice = plan(2)
    twice.items.append(twice.items[0])
    async with repair_worker(env.client, scripted) as queue:
        progress = await (await start(env.client, queue, twice)).result()
    assert progress.stopped == "the plan lists order-H-1 twice"
    assert scripted.acted == []
