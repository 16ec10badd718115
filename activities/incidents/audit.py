"""The repair job's own entries in the incident audit: the canary's verdict, each process's
result, and how the job ended. Appends carry keys (plan, event, process), so an activity that
Temporal runs twice adds nothing the second time."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from temporalio import activity

from domain.incidents.steps import Recorded, RepairRecord
from store.incidents import AuditEvent, IncidentAudit


class RepairAuditActivities:
    def __init__(self, audit: IncidentAudit) -> None:
        self.audit = audit

    def all(self) -> list[Callable[..., Awaitable[Any]]]:
        return [self.record_repair]

    @activity.defn(name="repair_record")
    async def record_repair(self, record: RepairRecord) -> Recorded:
        # The store is synchronous (SQLAlchemy): off the event loop, beside the heartbeats.
        return await asyncio.to_thread(self._write, record)

    def _write(self, record: RepairRecord) -> Recorded:
        event, added = AuditEvent(record.event), 0
        if event is AuditEvent.ITEM:
            for result in record.results:
                run_id = record.run_ids.get(result.workflow_id)
                by = record.applied_by
                added += self.audit.item(record.plan_id, record.action, by, result, run_id)
            return Recorded(added=added)
        done = self.audit.job(
            record.plan_id, event, record.applied_by, record.detail, progress=record.progress
        )
        return Recorded(added=int(done))
