"""The ops worker's recorded histories must replay on today's code against the workflows the ops
worker registers (workers/ops.py OPS_WORKFLOWS), or a running alert, watchdog run or repair job
would break on the next deploy. Kept like tests/workflows/test_replay.py: the set is exact."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from continuum.converter import data_converter
from tests.workflows.test_replay import RECORDED as BUSINESS
from tests.workflows.test_replay_events import RECORDED as PUBLISHER
from workers.ops import OPS_WORKFLOWS

HISTORIES = Path(__file__).parent.parent / "histories"
# Folder → every history kept there: tests/histories/record.py records ops/ (Alert, Watchdog),
# tests/workflows/repair_harness.py records incidents/ (IncidentRepair).
RECORDED: dict[str, tuple[str, ...]] = {
    "ops": (
        "alert_cleared_by_watchdog",
        "alert_escalated_acknowledged_resolved",
        "alert_events_escalated_acknowledged_resolved",
        "alert_silenced",
        "watchdog_raises",
        "watchdog_raises_and_clears",
    ),
    "incidents": ("incident_repair_canary_then_rest",),
}
KEPT = [(folder, stem) for folder, stems in RECORDED.items() for stem in stems]


def _history(folder: str, stem: str) -> WorkflowHistory:
    return WorkflowHistory.from_json(stem, (HISTORIES / folder / f"{stem}.json").read_text())


@pytest.mark.parametrize("folder", sorted(RECORDED))
def test_the_histories_on_disk_are_exactly_the_recorded_ones(folder: str) -> None:
    assert sorted(p.stem for p in (HISTORIES / folder).glob("*.json")) == sorted(RECORDED[folder])


def test_every_history_kept_is_replayed_by_a_test() -> None:
    """A new folder under tests/histories would otherwise be replayed by nobody."""
    kept = {p.relative_to(HISTORIES).as_posix() for p in HISTORIES.rglob("*.json")}
    replayed = {f"{stem}.json" for stem in BUSINESS} | {f"{f}/{s}.json" for f, s in KEPT}
    replayed |= {f"events/{stem}.json" for stem in PUBLISHER}  # test_replay_events.py
    assert kept == replayed


@pytest.mark.parametrize(("folder", "stem"), KEPT, ids=[f"{f}/{s}" for f, s in KEPT])
async def test_history_replays_on_the_ops_worker(folder: str, stem: str) -> None:
    replayer = Replayer(workflows=list(OPS_WORKFLOWS), data_converter=data_converter())
    result = await replayer.replay_workflow(_history(folder, stem), raise_on_replay_failure=False)
    assert result.replay_failure is None, f"{folder}/{stem}.json no longer replays: {result}"


def _workflow_type(stem: str) -> str:
    started = _history("ops", stem).events[0].workflow_execution_started_event_attributes
    return started.workflow_type.name


def _updates(stem: str) -> list[str]:
    return [
        event.workflow_execution_update_accepted_event_attributes.accepted_request.input.name
        for event in _history("ops", stem).events
        if event.HasField("workflow_execution_update_accepted_event_attributes")
    ]


def _signals(stem: str) -> list[str]:
    return [
        event.workflow_execution_signaled_event_attributes.signal_name
        for event in _history("ops", stem).events
        if event.HasField("workflow_execution_signaled_event_attributes")
    ]


def _activities(stem: str) -> list[str]:
    return [
        event.activity_task_scheduled_event_attributes.activity_type.name
        for event in _history("ops", stem).events
        if event.HasField("activity_task_scheduled_event_attributes")
    ]


def _completed(stem: str) -> bool:
    return (
        _history("ops", stem).events[-1].HasField("workflow_execution_completed_event_attributes")
    )


def test_the_alert_histories_hold_the_paths_they_are_named_after() -> None:
    """What each file is kept for: a re-recording that lost a path would replay and prove less."""
    assert {s: _workflow_type(s) for s in RECORDED["ops"]} == {
        "alert_cleared_by_watchdog": "Alert",
        "alert_escalated_acknowledged_resolved": "Alert",
        "alert_events_escalated_acknowledged_resolved": "Alert",
        "alert_silenced": "Alert",
        "watchdog_raises": "Watchdog",
        "watchdog_raises_and_clears": "Watchdog",
    }
    # Level 1 and level 2 paged, then acknowledged; the resolution tells both.
    assert _updates("alert_escalated_acknowledged_resolved") == ["acknowledge"]
    assert len(_activities("alert_escalated_acknowledged_resolved")) == 4
    # Level 1 paged; silenced; levels 2 and 3 page when it ends; the resolution tells all three.
    assert _updates("alert_silenced") == ["silence"]
    assert len(_activities("alert_silenced")) == 6
    # Raised by the first watchdog run's signal-with-start (firing), told clear by the second.
    assert _signals("alert_cleared_by_watchdog") == ["observe", "observe"]
    assert all(_completed(s) for s in RECORDED["ops"])


def test_the_watchdog_histories_judge_two_rules_and_tell_the_alerts() -> None:
    for stem in ("watchdog_raises", "watchdog_raises_and_clears"):
        assert _activities(stem) == [
            "watchdog_rules",
            "evaluate_rule",
            "evaluate_rule",
            "observe_conditions",
        ], stem


def _markers(stem: str) -> list[str]:
    return [
        event.marker_recorded_event_attributes.marker_name
        for event in _history("ops", stem).events
        if event.HasField("marker_recorded_event_attributes")
    ]


def _patches(stem: str) -> set[str]:
    return {
        payload.data.decode()
        for e in _history("ops", stem).events
        if e.HasField("marker_recorded_event_attributes")
        and e.marker_recorded_event_attributes.marker_name == "core_patch"
        for payload in e.marker_recorded_event_attributes.details["patch-data"].payloads
    }


def test_both_sides_of_the_alert_events_patch_are_replayed() -> None:
    """Alerts recorded before it hand nothing over; the one after hands over fired, escalated,
    acknowledged and resolved, each in its own workflow task (four local activities), and pages
    as before (levels 1 and 2, the resolution to both)."""
    alerts = [s for s in RECORDED["ops"] if _workflow_type(s) == "Alert"]
    after = {s for s in alerts if any("alert-events" in p for p in _patches(s))}
    assert after == {"alert_events_escalated_acknowledged_resolved"}
    assert (
        _markers("alert_events_escalated_acknowledged_resolved").count("core_local_activity") == 4
    )
    assert _updates("alert_events_escalated_acknowledged_resolved") == ["acknowledge"]
    assert len(_activities("alert_events_escalated_acknowledged_resolved")) == 4
    for stem in set(alerts) - after:
        assert "core_local_activity" not in _markers(stem), stem
