"""Counts how orders end, from inside the workflow (names: the order contract's `Metric`).

`workflow.metric_meter()` records nothing while a workflow is replayed, so an order is counted
once however often its history is replayed; it issues no commands, so histories are unchanged.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain.orders.contract import OUTCOME_COUNTERS, Metric
    from domain.orders.models import OrderResult, OrderStatus

_UNDONE_ENDS = {OrderStatus.COMPENSATED, OrderStatus.CANCELLED, OrderStatus.REJECTED}


def outcome_metric(result: OrderResult) -> str:
    """Which counter an order that ended with this result belongs to."""
    if result.status is OrderStatus.COMPLETED:
        return Metric.COMPLETED
    if result.status in _UNDONE_ENDS and result.compensated:
        return Metric.COMPENSATED
    return Metric.FAILED


def order_ended(result: OrderResult) -> None:
    meter = workflow.metric_meter().with_additional_attributes({"status": result.status.value})
    name = outcome_metric(result)
    meter.create_counter(name, OUTCOME_COUNTERS[name]).add(1)
    elapsed = workflow.now() - workflow.info().workflow_start_time
    meter.create_histogram_float(Metric.DURATION, "Start of an order to its end", "s").record(
        max(elapsed.total_seconds(), 0.0)
    )
