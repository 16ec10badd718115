"""Recorded histories must replay on today's code, or running orders would break."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from continuum.converter import data_converter
from continuum.release.words import patch_marker
from workers.registry import WORKFLOWS

HERE = Path(__file__).parent.parent / "histories"
# Every history kept (tests/histories/record.py records them): a file gone missing is a path
# whose running executions nothing checks any more, so the set is exact, not "at least".
RECORDED = (
    "approval_cancelled_awaiting_approval",
    "approval_events_escalated_decided",
    "approval_expired",
    "approval_purchase_exception_accepted",
    "approval_state_since_two_levels",
    "approval_two_levels",
    "erp_crm_reconcile_drift",
    "erp_crm_sync_continue_as_new",
    "erp_crm_sync_continued_run",
    "erp_crm_sync_events_continue_as_new",
    "erp_crm_sync_events_continued_run",
    "erp_crm_sync_quarantine",
    "erp_crm_sync_repair",
    "erp_crm_sync_state_since",
    "order_to_cash_approval_deadline",
    "order_to_cash_approval_expired",
    "order_to_cash_approval_two_levels",
    "order_to_cash_approved_then_overdue",
    "order_to_cash_cancelled_awaiting_approval",
    "order_to_cash_cancelled_awaiting_delivery",
    "order_to_cash_cancelled_during_payment",
    "order_to_cash_business_events_completed",
    "order_to_cash_business_events_one_refused",
    "order_to_cash_completed",
    "order_to_cash_concurrent_writes_cancelled",
    "order_to_cash_concurrent_writes_completed",
    "order_to_cash_concurrent_writes_one_refused",
    "order_to_cash_customer_blocked",
    "order_to_cash_invalid_order",
    "order_to_cash_held_events_completed",
    "order_to_cash_held_events_shipment_refused",
    "order_to_cash_needs_attention",
    "order_to_cash_out_of_stock",
    "order_to_cash_payment_declined",
    "order_to_cash_undo_in_write_order_cancelled",
    "order_to_cash_state_since_two_levels",
    "procure_to_pay_events_cancelled",
    "procure_to_pay_events_matched_and_paid",
    "procure_to_pay_exception_accepted",
    "procure_to_pay_matched_and_paid",
    "report_daily",
    "report_daily_alerts",
    "report_daily_purchases",
    "sync_redrive_quarantine",
)


@functools.cache
def _history(stem: str) -> WorkflowHistory:
    """A recorded history, read once for all the tests that look into it."""
    return WorkflowHistory.from_json(stem, (HERE / f"{stem}.json").read_text())


def test_the_histories_on_disk_are_exactly_the_recorded_ones() -> None:
    assert sorted(p.stem for p in HERE.glob("*.json")) == sorted(RECORDED)


@pytest.mark.parametrize("stem", RECORDED)
async def test_history_replays(stem: str) -> None:
    history = _history(stem)
    replayer = Replayer(workflows=list(WORKFLOWS), data_converter=data_converter())
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, f"{stem}.json no longer replays: {result.replay_failure}"


def _writes(stem: str, attribute: str) -> bool:
    """Whether the run upserted `attribute` (both sides of a patch must be among the histories)."""
    history = _history(stem)
    return any(
        attribute
        in event.upsert_workflow_search_attributes_event_attributes.search_attributes.indexed_fields
        for event in history.events
        if event.HasField("upsert_workflow_search_attributes_event_attributes")
    )


# Recorded after the "state-since" patch; every other history runs the unpatched path.
# Purchases (and their reviews) came after it: they always write StateSince.
STATE_SINCE = {
    "order_to_cash_state_since_two_levels",
    "order_to_cash_concurrent_writes_cancelled",
    "order_to_cash_concurrent_writes_completed",
    "order_to_cash_concurrent_writes_one_refused",
    "order_to_cash_business_events_completed",
    "order_to_cash_business_events_one_refused",
    "order_to_cash_undo_in_write_order_cancelled",
    "order_to_cash_held_events_completed",
    "order_to_cash_held_events_shipment_refused",
    "approval_state_since_two_levels",
    "erp_crm_sync_state_since",
    "procure_to_pay_exception_accepted",
    "procure_to_pay_matched_and_paid",
    "approval_purchase_exception_accepted",
    "approval_events_escalated_decided",
    "procure_to_pay_events_cancelled",
    "procure_to_pay_events_matched_and_paid",
    "erp_crm_sync_events_continue_as_new",
    "erp_crm_sync_events_continued_run",
}


# The daily report keeps no state of its own.
@pytest.mark.parametrize("stem", [s for s in RECORDED if not s.startswith("report_daily")])
def test_state_since_is_written_exactly_by_the_runs_after_its_patch(stem: str) -> None:
    assert _writes(stem, "StateSince") == (stem in STATE_SINCE), stem


def _activities(stem: str) -> list[str]:
    history = _history(stem)
    return [
        event.activity_task_scheduled_event_attributes.activity_type.name
        for event in history.events
        if event.HasField("activity_task_scheduled_event_attributes")
    ]


def test_both_sides_of_the_report_alerts_patch_are_replayed() -> None:
    """A report started before the alerts section (report_daily) and one after it."""
    assert "report_alerts" not in _activities("report_daily")
    assert "report_alerts" in _activities("report_daily_alerts")


def test_both_sides_of_the_report_purchases_patch_are_replayed() -> None:
    """Reports started before the procure-to-pay section (report_daily, report_daily_alerts)
    and one after it, which read two purchases (one paid, one waiting for its due date)."""
    for stem in ("report_daily", "report_daily_alerts"):
        assert "report_purchases" not in _activities(stem), stem
    after = _activities("report_daily_purchases")
    assert {"report_purchases", "report_purchase_ledger"} <= set(after)
    assert after.index("report_purchases") > after.index("report_alerts")


def test_the_purchase_histories_pay_once_and_one_puts_an_exception_to_a_person() -> None:
    for stem in ("procure_to_pay_matched_and_paid", "procure_to_pay_exception_accepted"):
        assert _activities(stem).count("pay_supplier") == 1, stem
    history = _history("procure_to_pay_exception_accepted")
    children = [
        e.start_child_workflow_execution_initiated_event_attributes.workflow_id
        for e in history.events
        if e.HasField("start_child_workflow_execution_initiated_event_attributes")
    ]
    assert children == ["approval-purchase-H-exception-accepted-exception-1"]


# The three independent writes, and the histories recorded after the "concurrent-writes" patch
# (the "business-events" ones came after it).
AT_ONCE = {"reserve_stock", "create_sales_order", "upsert_deal"}
# (and the "undo-in-write-order" one came after both)
UNDO_IN_WRITE_ORDER = {"order_to_cash_undo_in_write_order_cancelled"}
# (and the "held-events" ones after all three)
HELD_EVENTS = {s for s in RECORDED if s.startswith("order_to_cash_held_events_")}
BUSINESS_EVENTS = (
    {s for s in RECORDED if s.startswith("order_to_cash_business_events_")}
    | UNDO_IN_WRITE_ORDER
    | HELD_EVENTS
)
CONCURRENT_WRITES = {
    s for s in RECORDED if s.startswith("order_to_cash_concurrent_writes_")
} | BUSINESS_EVENTS


def _patches(stem: str) -> list[str]:
    history = _history(stem)
    return [m[0] for e in history.events if (m := patch_marker(e))]


def _scheduled_together(stem: str) -> list[list[str]]:
    """The activities each workflow task scheduled, per task."""
    history = _history(stem)
    tasks: dict[int, list[str]] = {}
    for event in history.events:
        if event.HasField("activity_task_scheduled_event_attributes"):
            scheduled = event.activity_task_scheduled_event_attributes
            task = tasks.setdefault(scheduled.workflow_task_completed_event_id, [])
            task.append(scheduled.activity_type.name)
    return list(tasks.values())


@pytest.mark.parametrize("stem", [s for s in RECORDED if s.startswith("order_to_cash_")])
def test_both_sides_of_the_concurrent_writes_patch_are_replayed(stem: str) -> None:
    """Orders before the patch wrote stock, sales order and deal one task after another; those
    after it, all three in one task."""
    together = [set(t) & AT_ONCE for t in _scheduled_together(stem) if set(t) & AT_ONCE]
    if stem in CONCURRENT_WRITES:
        assert "concurrent-writes" in _patches(stem)
        assert together[0] == AT_ONCE, together
    else:
        assert "concurrent-writes" not in _patches(stem)
        assert all(len(t) == 1 for t in together), together


def _local_activities(stem: str) -> int:
    history = _history(stem)
    return sum(
        1
        for e in history.events
        if e.HasField("marker_recorded_event_attributes")
        and e.marker_recorded_event_attributes.marker_name == "core_local_activity"
    )


@pytest.mark.parametrize("stem", [s for s in RECORDED if s.startswith("order_to_cash_")])
def test_both_sides_of_the_business_events_patch_are_replayed(stem: str) -> None:
    """Orders before the patch hand nothing over; those after it, one local activity per
    workflow task that emitted: placed, paid, shipped, delivered, invoiced, completed (6), or
    placed and compensated (2) when the sales order is refused."""
    if stem in HELD_EVENTS:
        return  # fewer hand-overs: the held-events test below
    if stem in BUSINESS_EVENTS:
        assert "business-events" in _patches(stem)
        ending = stem.rsplit("_", 1)[-1] if stem in UNDO_IN_WRITE_ORDER else stem
        expected = {"completed": 6, "one_refused": 2, "cancelled": 2}[
            ending.rsplit("business_events_")[-1]
        ]
        assert _local_activities(stem) == expected
    else:
        assert "business-events" not in _patches(stem)
        assert _local_activities(stem) == 0


def _timeline(stem: str) -> list[str]:
    """Hand-overs as "handed N" (N events, the local activity's result), activities as
    "scheduled <type>" and "failed", in history order."""
    history = _history(stem)
    plain = data_converter().payload_converter
    lines = []
    for e in history.events:
        marker = e.marker_recorded_event_attributes
        if e.HasField("marker_recorded_event_attributes") and marker.marker_name == (
            "core_local_activity"
        ):
            (result,) = marker.details["result"].payloads
            lines.append(f"handed {plain.from_payload(result)['handed_over']}")
        elif e.HasField("activity_task_scheduled_event_attributes"):
            name = e.activity_task_scheduled_event_attributes.activity_type.name
            lines.append(f"scheduled {name}")
        elif e.HasField("activity_task_failed_event_attributes"):
            lines.append("failed")
    return lines


@pytest.mark.parametrize("stem", [s for s in RECORDED if s.startswith("order_to_cash_")])
def test_both_sides_of_the_held_events_patch_are_replayed(stem: str) -> None:
    """Orders before the patch hand each event over in the task that emitted it; after it,
    paid waits for shipped, delivered and invoiced for the end (three hand-overs instead of
    six), and a stop hands over what is held before it undoes anything."""
    if stem not in HELD_EVENTS:
        assert "held-events" not in _patches(stem)
        return
    assert "held-events" in _patches(stem)
    timeline = _timeline(stem)
    handed = [line for line in timeline if line.startswith("handed")]
    if stem.endswith("_completed"):
        assert handed == ["handed 1", "handed 2", "handed 3"]
    else:
        # placed; paid, held across the refused shipment and handed over in the task that
        # starts the refund (its marker is written when the hand-over ends); compensated
        # at the end.
        assert handed == ["handed 1", "handed 1", "handed 1"]
        refused = timeline.index("scheduled create_shipment") + 1
        assert timeline[refused : refused + 3] == [
            "failed",
            "scheduled refund_payment",
            "handed 1",
        ], timeline


def _markers(stem: str) -> list[str]:
    history = _history(stem)
    return [
        e.marker_recorded_event_attributes.marker_name
        for e in history.events
        if e.HasField("marker_recorded_event_attributes")
    ]


def test_both_sides_of_the_approval_events_patch_are_replayed() -> None:
    """Approvals recorded before it hand nothing over; the one after hands over three events
    (requested, escalated, decided) in three local activities."""
    approvals = [s for s in RECORDED if s.startswith("approval_")]
    after = {s for s in approvals if any("approval-events" in p for p in _patches(s))}
    assert after == {"approval_events_escalated_decided"}
    assert _markers("approval_events_escalated_decided").count("core_local_activity") == 3
    for stem in set(approvals) - after:
        assert "core_local_activity" not in _markers(stem), stem


def test_both_sides_of_the_purchase_events_patch_are_replayed() -> None:
    """Purchases recorded before it hand nothing over; the two after it hand over their events
    in one local activity per workflow task that emitted: the paid one six (requested,
    ordered, confirmed, goods received, invoice received, paid with completed), the cancelled
    one three (requested, ordered, cancelled after its undo)."""
    buys = [s for s in RECORDED if s.startswith("procure_to_pay_")]
    after = {s for s in buys if any("purchase-events" in p for p in _patches(s))}
    assert after == {"procure_to_pay_events_matched_and_paid", "procure_to_pay_events_cancelled"}
    assert _markers("procure_to_pay_events_matched_and_paid").count("core_local_activity") == 6
    assert _markers("procure_to_pay_events_cancelled").count("core_local_activity") == 3
    assert _activities("procure_to_pay_events_cancelled")[-1] == "cancel_purchase_order"
    for stem in set(buys) - after:
        assert "core_local_activity" not in _markers(stem), stem


def test_both_sides_of_the_sync_events_patch_are_replayed() -> None:
    """Syncs recorded before it hand nothing over; after it, run 1 hands over a quarantined
    page and continues as new, run 2 its last page's quarantine and the completion, emitted in
    one workflow task, in one local activity."""
    syncs = [s for s in RECORDED if s.startswith("erp_crm_sync_")]
    after = {s for s in syncs if any("sync-events" in p for p in _patches(s))}
    assert after == {"erp_crm_sync_events_continue_as_new", "erp_crm_sync_events_continued_run"}
    assert _markers("erp_crm_sync_events_continue_as_new").count("core_local_activity") == 1
    assert _markers("erp_crm_sync_events_continued_run").count("core_local_activity") == 1
    for stem in set(syncs) - after:
        assert "core_local_activity" not in _markers(stem), stem


def test_the_writes_run_at_once_are_undone_in_the_business_orders_reverse() -> None:
    """Before the "undo-in-write-order" patch the undos ran in the reverse of the order the
    writes returned in (the cancelled history: cancel sales order, release stock, mark deal
    lost); after it, always deal, sales order, stock, however they returned."""

    def undos(stem: str) -> list[str]:
        history = _history(stem)
        names = [
            e.activity_task_scheduled_event_attributes.activity_type.name
            for e in history.events
            if e.HasField("activity_task_scheduled_event_attributes")
        ]
        return [n for n in names if n in {"set_deal_stage", "cancel_sales_order", "release_stock"}]

    assert "undo-in-write-order" not in _patches("order_to_cash_concurrent_writes_cancelled")
    assert undos("order_to_cash_concurrent_writes_cancelled") == [
        "cancel_sales_order",
        "release_stock",
        "set_deal_stage",
    ]
    assert "undo-in-write-order" in _patches("order_to_cash_undo_in_write_order_cancelled")
    assert undos("order_to_cash_undo_in_write_order_cancelled") == [
        "set_deal_stage",
        "cancel_sales_order",
        "release_stock",
    ]
