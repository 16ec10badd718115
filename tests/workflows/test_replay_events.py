"""The EventPublisher's recorded histories replay on today's code (tests/histories/events/,
recorded by tests/histories/record_events.py): running publishers would break otherwise."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from continuum.converter import data_converter
from workers.events import EVENT_WORKFLOWS

HERE = Path(__file__).parent.parent / "histories" / "events"
RECORDED = (
    "publisher_continued_as_new",
    "publisher_delivered_then_idle",
    "publisher_last_run",
    "publisher_shard_two_processes",  # one publisher per shard of processes
    "publisher_quick_delivery",  # local activities first, the durable one for a failing sink
)


def _history(stem: str) -> WorkflowHistory:
    return WorkflowHistory.from_json(stem, (HERE / f"{stem}.json").read_text())


def test_the_histories_on_disk_are_exactly_the_recorded_ones() -> None:
    assert sorted(p.stem for p in HERE.glob("*.json")) == sorted(RECORDED)


@pytest.mark.parametrize("stem", RECORDED)
async def test_history_replays(stem: str) -> None:
    replayer = Replayer(workflows=list(EVENT_WORKFLOWS), data_converter=data_converter())
    result = await replayer.replay_workflow(_history(stem), raise_on_replay_failure=False)
    assert result.replay_failure is None, f"{stem}.json no longer replays: {result.replay_failure}"


def test_one_run_continued_as_new_and_one_completed_when_idle() -> None:
    def ended(stem: str) -> str:
        return _history(stem).events[-1].WhichOneof("attributes") or ""

    assert ended("publisher_continued_as_new").startswith("workflow_execution_continued_as_new")
    assert ended("publisher_delivered_then_idle").startswith("workflow_execution_completed")
    assert ended("publisher_last_run").startswith("workflow_execution_completed")
    assert ended("publisher_shard_two_processes").startswith("workflow_execution_completed")
