"""The repair job's entries in the incident audit, written by an activity as the job goes: each
process's result once it is known, the canary's verdict, how the job ended."""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.incidents.audit import RepairAuditActivities
    from domain.incidents.checks import Applied
    from domain.incidents.contract import Action, RepairProgress
    from domain.incidents.steps import RepairRecord
    from workflows.failures import reason
    from workflows.policies import AUDIT_WRITE


class RepairAudit:
    def __init__(
        self, plan_id: str, action: Action, applied_by: str, progress: RepairProgress
    ) -> None:
        self._plan_id = plan_id
        self._action = action
        self._applied_by = applied_by
        self._progress = progress
        self._recorded = 0  # results already sent to the audit

    async def items(self, applied: dict[str, Applied]) -> None:
        """The results that arrived since the last call."""
        new = self._progress.results[self._recorded :]
        if not new:
            return
        runs = {
            r.workflow_id: applied[r.workflow_id].run_id for r in new if r.workflow_id in applied
        }
        await self._write(self._record("item", results=new, run_ids=runs))
        self._recorded += len(new)

    async def job(self, event: str, detail: str) -> None:
        """`event`: canary, stopped or finished (store.incidents.AuditEvent)."""
        await self._write(self._record(event, detail=detail, progress=self._progress))

    def _record(self, event: str, **fields: object) -> RepairRecord:
        return RepairRecord.model_validate(
            {
                "plan_id": self._plan_id,
                "action": self._action,
                "event": event,
                "applied_by": self._applied_by,
                **fields,
            }
        )

    async def _write(self, record: RepairRecord) -> None:
        try:
            await workflow.execute_activity_method(
                RepairAuditActivities.record_repair,
                record,
                summary=f"audit {record.event}",
                **AUDIT_WRITE,
            )
        except ActivityError as err:
            # A day of retries has passed: the job's own result and history still say it all.
            workflow.logger.error("incident audit %s not written: %s", record.event, reason(err))
