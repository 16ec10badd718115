"""The board's figures: the report's success definition as a visibility filter, processing time
against the manual baseline, and the board's configuration refused field by field."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from domain.figures import (
    BoardConfig,
    ProcessBaseline,
    QueueKind,
    QueueLoad,
    SuccessFigure,
    Throughput,
    closed_orders_query,
    completed_orders_query,
    process_time,
    succeeded_orders_query,
)
from domain.orders.models import OrderStatus
from domain.reports import SUCCESSFUL_ORDER_STATUSES, OrderRun, Outcome, outcome

START = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)
END = START + timedelta(hours=1)


@pytest.mark.parametrize("status", list(OrderStatus))
def test_the_success_filter_is_the_reports_outcome(status: OrderStatus) -> None:
    """An order that closed with its workflow completed counts as a success in the board's
    filter exactly when the report's outcome() says it is not a failure."""
    run = OrderRun(
        order_id="O-1",
        order_status=status.value,
        execution_status="COMPLETED",
        started_at=START,
        closed_at=END,
    )
    in_filter = f"'{status.value}'" in succeeded_orders_query(START, END)
    assert in_filter == (outcome(run) is not Outcome.FAILED)


def test_the_queries_name_their_window_and_the_order_workflow() -> None:
    for query in (closed_orders_query(START, END), succeeded_orders_query(START, END)):
        assert query.startswith("WorkflowType = 'OrderToCash'")
        assert "CloseTime >= '2026-12-07T08:00:00.000000Z'" in query
        assert "CloseTime < '2026-12-07T09:00:00.000000Z'" in query
    assert "ExecutionStatus = 'Completed'" in succeeded_orders_query(START, END)
    assert "OrderStatus = 'Completed'" in completed_orders_query(START, END)
    assert set(SUCCESSFUL_ORDER_STATUSES) == {"Completed", "Compensated", "Rejected", "Cancelled"}


def test_success_against_the_target() -> None:
    assert SuccessFigure(label="h", closed=0, succeeded=0).rate is None
    assert SuccessFigure(label="h", closed=0, succeeded=0).meets_target is None
    assert SuccessFigure(label="h", closed=50, succeeded=49).meets_target is True  # 98 %
    assert SuccessFigure(label="h", closed=100, succeeded=97).meets_target is False
    figure = SuccessFigure(label="h", closed=4, succeeded=3)
    assert figure.model_dump(mode="json")["rate"] == 0.75  # the JSON carries the rate


ORDERS = ProcessBaseline(
    name="Order to cash",
    workflow_type="OrderToCash",
    status_attribute="OrderStatus",
    done=["Completed"],
    manual_p50_hours=10,
    manual_p95_hours=20,
)


def test_processing_time_against_the_manual_baseline() -> None:
    hours = [h * 3600.0 for h in (2, 4, 5, 6, 30)]
    figure = process_time(ORDERS, count=7, durations=hours, goal=0.5)
    assert (figure.count, figure.sampled) == (7, 5)
    assert figure.p50_seconds == 5 * 3600
    assert figure.change_p50 == pytest.approx(-0.5) and figure.meets_goal is True
    assert figure.change_p95 is not None and figure.change_p95 > 0  # the slow tail is slower
    slower = process_time(ORDERS, count=1, durations=[6 * 3600.0], goal=0.5)
    assert slower.change_p50 == pytest.approx(-0.4) and slower.meets_goal is False
    none = process_time(ORDERS, count=0, durations=[], goal=0.5)
    assert none.p50_seconds is None and none.meets_goal is None


def test_a_process_finishes_by_its_status_or_by_completing() -> None:
    assert "OrderStatus IN ('Completed')" in ORDERS.done_query(START, END)
    report = ProcessBaseline(
        name="Daily report", workflow_type="DailyReport", manual_p50_hours=2, manual_p95_hours=4
    )
    query = report.done_query(START, END)
    assert query.startswith("WorkflowType = 'DailyReport' AND ExecutionStatus = 'Completed'")
    assert " IN " not in query


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"done": []}, "status_attribute and done go together"),
        ({"status_attribute": None}, "status_attribute and done go together"),
        ({"done": ["it's"]}, "may not contain a quote"),
        ({"workflow_type": "Order To Cash"}, "workflow_type"),
        ({"manual_p50_hours": 0}, "manual_p50_hours"),
    ],
)
def test_a_bad_process_is_refused_naming_its_field(changes: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError, match=field):
        ProcessBaseline.model_validate({**ORDERS.model_dump(), **changes})


def test_a_queue_with_work_and_no_poller_is_unserved() -> None:
    def load(backlog: int, pollers: int) -> QueueLoad:
        return QueueLoad(
            task_queue="q",
            kind=QueueKind.WORKFLOW,
            backlog=backlog,
            oldest_seconds=5,
            pollers=pollers,
        )

    assert load(3, 0).unserved and not load(0, 0).unserved and not load(3, 1).unserved


def test_throughput_per_hour_and_config_bounds() -> None:
    assert Throughput(label="d", hours=24, started=10, completed=48).completed_per_hour == 2
    with pytest.raises(ValidationError, match="refresh_seconds"):
        BoardConfig(refresh_seconds=1)
    with pytest.raises(ValidationError, match="target"):
        BoardConfig(target=1.5)
