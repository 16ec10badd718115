"""The reset rule on histories shaped like an order's: never before a step or undo that ran."""

from __future__ import annotations

import pytest

from domain.incidents.safe_point import Kind, Mark, NoSafePoint, safe_reset_point


class History:
    """Builds marks as Temporal numbers events: a task completes, then schedules its step."""

    def __init__(self) -> None:
        self.marks: list[Mark] = []
        self.next = 1

    def _add(self, kind: Kind, **fields: object) -> int:
        event_id = self.next
        self.next += 1
        self.marks.append(Mark(event_id=event_id, kind=kind, **fields))
        return event_id

    def step(self, name: str, outcome: Kind | None) -> int:
        """A task that schedules `name`, and how it ended (None: never closed)."""
        task = self._add(Kind.TASK_DONE)
        scheduled = self._add(Kind.SCHEDULED, step=name, by_task=task)
        if outcome is not None:
            self._add(outcome, scheduled=scheduled)
        return task

    def end(self) -> int:
        return self._add(Kind.TASK_DONE)


def needs_attention(first_undo: Kind) -> tuple[History, dict[str, int]]:
    """Reserve, sell, deal, capture refused; undo: mark lost (`first_undo`), cancel, release."""
    h, tasks = History(), {}
    for name in ("reserve_stock", "create_sales_order", "upsert_deal"):
        tasks[name] = h.step(name, Kind.COMPLETED)
    tasks["capture_payment"] = h.step("capture_payment", Kind.FAILED)
    tasks["set_deal_stage"] = h.step("set_deal_stage", first_undo)
    tasks["cancel_sales_order"] = h.step("cancel_sales_order", Kind.FAILED)
    tasks["release_stock"] = h.step("release_stock", Kind.FAILED)
    h.end()
    return h, tasks


def test_reset_goes_before_the_failed_undo_never_before_the_undo_that_ran() -> None:
    h, tasks = needs_attention(first_undo=Kind.COMPLETED)
    point = safe_reset_point(h.marks)
    assert point.event_id == tasks["cancel_sales_order"]
    assert point.reruns == ["cancel_sales_order", "release_stock"]
    assert point.kept == "set_deal_stage"
    assert "runs cancel_sales_order, release_stock again" in point.describe()


def test_when_no_undo_ran_the_reset_goes_before_the_failed_step() -> None:
    h, tasks = needs_attention(first_undo=Kind.FAILED)
    point = safe_reset_point(h.marks)
    assert point.event_id == tasks["capture_payment"]
    assert point.reruns[0] == "capture_payment" and point.kept == "upsert_deal"


def test_a_failed_undo_before_one_that_ran_has_no_safe_point() -> None:
    h = History()
    h.step("capture_payment", Kind.COMPLETED)
    h.step("create_shipment", Kind.FAILED)
    h.step("refund_payment", Kind.FAILED)
    h.step("set_deal_stage", Kind.COMPLETED)  # ran after the failed refund
    h.end()
    with pytest.raises(NoSafePoint, match="would forget set_deal_stage"):
        safe_reset_point(h.marks)


def test_a_failed_step_started_beside_one_that_ran_has_no_safe_point() -> None:
    h = History()
    task = h._add(Kind.TASK_DONE)
    credit = h._add(Kind.SCHEDULED, step="check_credit", by_task=task)
    stock = h._add(Kind.SCHEDULED, step="check_stock", by_task=task)
    h._add(Kind.COMPLETED, scheduled=credit)
    h._add(Kind.FAILED, scheduled=stock)
    h.end()
    with pytest.raises(NoSafePoint, match="started before check_credit completed"):
        safe_reset_point(h.marks)


def test_a_child_workflow_started_counts_as_ran() -> None:
    h = History()
    h.step("check_credit", Kind.FAILED)
    h._add(Kind.EFFECT, step="start_child_workflow_execution_initiated")
    h.end()
    with pytest.raises(NoSafePoint, match="would forget start_child"):
        safe_reset_point(h.marks)


def test_a_compensated_run_has_nothing_to_run_again_but_a_failed_run_reruns_its_code() -> None:
    h = History()
    h.step("reserve_stock", Kind.COMPLETED)
    h.step("release_stock", Kind.COMPLETED)
    last = h.end()
    with pytest.raises(NoSafePoint, match="nothing to run again"):
        safe_reset_point(h.marks)
    point = safe_reset_point(h.marks, failed_run=True)
    assert point.event_id == last and point.reruns == []
