"""A replay failure told in words, from recorded histories and the SDK core's own messages;
the patch sites and verdicts; the behaviour table against the worker's registry. No server."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer
from temporalio.workflow import NondeterminismError

from continuum.converter import plaintext_data_converter
from continuum.release.behaviours import BEHAVIOURS
from continuum.release.check import workflow_types
from continuum.release.patches import PatchReport, patch_sites
from continuum.release.versioning import VersioningError, deployment_config
from continuum.release.words import diverging_event, patch_marker
from tests.release.changed_order import PausingOrderToCash
from tests.release.sites import site
from workers.registry import WORKFLOWS
from workers.release import ALL_WORKFLOWS
from workflows.orders.order_to_cash import OrderToCash

ROOT = Path(__file__).parents[2]
APPROVAL_STEP = "workflows/orders/approval_step.py"
REPORTS = "workflows/reports.py"
PUBLISHER = "workflows/events_publisher.py"
HISTORIES = ROOT / "tests" / "histories"


def history(stem: str) -> WorkflowHistory:
    return WorkflowHistory.from_json(stem, (HISTORIES / f"{stem}.json").read_text())


async def test_a_recorded_order_diverges_where_the_changed_code_starts_its_timer() -> None:
    recorded = history("order_to_cash_completed")
    workflows = [w for w in WORKFLOWS if w is not OrderToCash] + [PausingOrderToCash]
    replayer = Replayer(workflows=workflows, data_converter=plaintext_data_converter())
    result = await replayer.replay_workflow(recorded, raise_on_replay_failure=False)
    assert result.replay_failure is not None
    event_id, words = diverging_event(result.replay_failure, recorded.events)
    assert event_id == 5
    assert words.startswith("event 5 (search attributes set (")
    assert words.endswith("the working tree's code started a timer there instead")


def failure(message: str) -> NondeterminismError:
    return NondeterminismError(f'Failure {{ failure: Some(Failure {{ message: "{message}", s')


@pytest.mark.parametrize(
    ("message", "words"),
    [
        (
            "[TMPRL1100] Nondeterminism error: Activity type of scheduled event 'check_credit'"
            " does not match activity type of activity command 'reserve_stock'",
            "the working tree's code starts the step reserve_stock there instead",
        ),
        (
            "[TMPRL1100] Nondeterminism error: No command scheduled for event"
            " HistoryEvent(id: 11, ActivityTaskScheduled)",
            "event 11 (the step check_stock): the working tree's code does nothing there"
            " (a command removed or moved)",
        ),
        (
            "[TMPRL1100] Nondeterminism error: Child workflow machine does not handle this event:"
            " HistoryEvent(id: 5, UpsertWorkflowSearchAttributes)",
            "the working tree's code started a child process there instead",
        ),
        (
            "Nondeterminism error: Non-deprecated patch marker encountered for change"
            " state-since, but there is no corresponding change command!",
            "event 6 (the patch marker 'state-since'): the working tree's code no longer asks"
            " for the patch 'state-since' whose marker this history holds",
        ),
    ],
)
def test_the_cores_messages_in_words(message: str, words: str) -> None:
    events = history("order_to_cash_state_since_two_levels").events
    _, said = diverging_event(failure(message), events)
    assert said.endswith(words), said


def test_a_failure_that_is_not_a_divergence_says_so() -> None:
    _, said = diverging_event(RuntimeError("boom in the code"), [])
    assert said == "the working tree's code failed while replaying: boom in the code"


def test_patch_markers_are_read_from_history() -> None:
    events = history("order_to_cash_state_since_two_levels").events
    assert [m for e in events if (m := patch_marker(e))] == [
        ("state-since", False),
        ("approval-workflow", False),
    ]


def test_the_working_trees_patches_are_found_with_their_ids_resolved() -> None:
    found = {(s.patch_id, s.usage, s.where) for s in patch_sites(ROOT / "workflows")}
    assert found == {
        ("approval-workflow", "patched", site(APPROVAL_STEP, "workflow.patched(PATCH)")),
        ("approval-events", "patched", site("workflows/approval.py", "Events(")),
        (
            "purchase-events",
            "patched",
            site("workflows/purchasing/business_events.py", "Events("),
        ),
        ("alert-events", "patched", site("workflows/alerts/alert.py", "Events(")),
        (
            "concurrent-writes",
            "patched",
            site("workflows/orders/order_to_cash.py", "workflow.patched(CONCURRENT_WRITES)"),
        ),
        (
            "undo-in-write-order",
            "patched",
            site("workflows/orders/writes.py", "workflow.patched(UNDO_IN_WRITE_ORDER)"),
        ),
        (
            "business-events",
            "patched",
            site("workflows/orders/business_events.py", "Events("),
        ),
        ("held-events", "patched", site("workflows/orders/business_events.py", "Events(")),
        ("report-alerts", "patched", site(REPORTS, 'workflow.patched("report-alerts")')),
        ("report-purchases", "patched", site(REPORTS, 'workflow.patched("report-purchases")')),
        ("state-since", "patched", site("workflows/search_attributes.py", "workflow.patched(")),
        ("sync-events", "patched", site("workflows/sync/erp_crm_sync.py", "Events(")),
        ("quick-delivery", "patched", site(PUBLISHER, "workflow.patched(QUICK)")),
    }


@pytest.mark.parametrize(
    ("report", "verdict"),
    [
        (PatchReport(patch_id="p", in_code="patched", old_path=2), "keep patched: 2 running"),
        (PatchReport(patch_id="p", in_code="patched", unknown=1), "keep patched; 1 running"),
        (PatchReport(patch_id="p", in_code="patched", new_path=4), 'ready: replace patched("p")'),
        (
            PatchReport(patch_id="p", in_code="deprecate_patch", new_path=1),
            "keep deprecate_patch: 1 running processes hold its marker",
        ),
        (
            PatchReport(patch_id="p", in_code="deprecate_patch", deprecated_marker=3),
            'ready: remove deprecate_patch("p")',
        ),
        (PatchReport(patch_id="p", in_code=None, new_path=1), "removed while 1 running"),
        (PatchReport(patch_id="p", in_code=None), "removed; nothing running depends on it"),
    ],
)
def test_a_patch_moves_on_only_when_nothing_running_needs_it(
    report: PatchReport, verdict: str
) -> None:
    assert report.verdict.startswith(verdict), report.verdict


def test_every_registered_process_declares_its_versioning_behaviour_and_why() -> None:
    for name in workflow_types(ALL_WORKFLOWS):
        declared = BEHAVIOURS.get(name)
        assert declared is not None, f"{name} has no versioning behaviour in BEHAVIOURS"
        assert declared.why


@pytest.mark.parametrize(
    ("name", "build", "problem"),
    [
        (None, "v1", "CONTINUUM_BUILD_ID is set but CONTINUUM_DEPLOYMENT_NAME is not"),
        ("continuum", None, "CONTINUUM_BUILD_ID is not set"),
        ("con.tinuum", "v1", "may not contain '.' or ':'"),
        ("continuum", "v:1", "CONTINUUM_BUILD_ID 'v:1' may not contain ':'"),
    ],
)
def test_half_a_version_is_refused_in_one_line(
    name: str | None, build: str | None, problem: str
) -> None:
    with pytest.raises(VersioningError, match=problem):
        deployment_config(name, build)
    assert deployment_config(None, None) is None
