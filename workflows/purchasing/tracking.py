"""Keeps a purchase's visible state current: the status query's result, the search attributes
(ProcessStatus, StateSince, PurchaseKeys, PurchaseTotal), the Web UI's details and the metrics."""

from __future__ import annotations

from typing import Any

from temporalio import workflow
from temporalio.common import SearchAttributeUpdate

with workflow.unsafe.imports_passed_through():
    from domain.purchasing.contract import Metric, supplier_key
    from domain.purchasing.lifecycle import ENDED
    from domain.purchasing.models import (
        PurchaseEvent,
        PurchaseResult,
        PurchaseStatus,
        Requisition,
    )
    from workflows import search_attributes as sa


class PurchaseTracker:
    def __init__(self, requisition: Requisition) -> None:
        self.requisition = requisition
        self.result = PurchaseResult(
            requisition_id=requisition.requisition_id,
            supplier_id=requisition.supplier_id,
            currency=requisition.currency,
            total=requisition.total,
        )
        # Everything the purchase can be found by: `PurchaseKeys = "po:PO-1"` lists it.
        self.keys = [requisition.requisition_id, supplier_key(requisition.supplier_id)]

    def start(self) -> None:
        """The purchase's keys, total and first status, in one upsert."""
        workflow.upsert_search_attributes(
            [
                sa.PURCHASE_KEYS.value_set(list(self.keys)),
                sa.PURCHASE_TOTAL.value_set(float(self.requisition.total)),
                *self._status(PurchaseStatus.RECEIVED),
            ]
        )

    def add_key(self, key: str) -> None:
        if key not in self.keys:
            self.keys.append(key)
            workflow.upsert_search_attributes([sa.PURCHASE_KEYS.value_set(list(self.keys))])

    def set_status(self, status: PurchaseStatus, reason: str = "") -> None:
        """A new status is published (search attributes, details); a new reason only shows."""
        result = self.result
        if (status, reason) == (result.status, result.reason):
            return
        moved = status is not result.status
        result.status, result.reason = status, reason
        if moved:
            workflow.upsert_search_attributes(self._status(status))
        workflow.set_current_details(f"**{status.value}**" + (f"\n\n{reason}" if reason else ""))
        if moved and status in ENDED:
            self._count_end()

    @staticmethod
    def _status(status: PurchaseStatus) -> list[SearchAttributeUpdate[Any]]:
        return [sa.PROCESS_STATUS.value_set(status.value), sa.STATE_SINCE.value_set(workflow.now())]

    def record(self, what: str, detail: str = "") -> None:
        self.result.events.append(PurchaseEvent(at=workflow.now(), what=what, detail=detail))

    def _count_end(self) -> None:
        result = self.result
        meter = workflow.metric_meter().with_additional_attributes({"status": result.status.value})
        if result.status is PurchaseStatus.COMPLETED:
            meter.create_counter(Metric.COMPLETED, "Purchases completed").add(1)
        elif result.compensated:
            meter.create_counter(Metric.COMPENSATED, "Purchases undone").add(1)
