"""A schedule tick of the ERP→CRM sync: one sync at a time, whoever starts it.

Temporal Schedules append the tick's time to the workflow id they start, so a scheduled sync and
a manual `continuum sync run` (or the start-up sync, or the drill's) could run side by side and
write the same pages twice. The schedule starts this workflow instead; it runs the sync as its
child under the sync's one fixed id, which Temporal lets only one run hold, or ends "skipped"
when a sync already holds it.
"""

from __future__ import annotations

from pydantic import ValidationError
from temporalio import workflow
from temporalio.exceptions import WorkflowAlreadyStartedError

with workflow.unsafe.imports_passed_through():
    from domain.sync.contract import SCHEDULED_WORKFLOW, WORKFLOW_ID
    from domain.sync.models import ScheduledSyncResult, SyncInput
    from workflows.sync.erp_crm_sync import ErpCrmSync


@workflow.defn(name=SCHEDULED_WORKFLOW, failure_exception_types=[ValidationError])
class ScheduledErpCrmSync:
    @workflow.run
    async def run(self, input: SyncInput) -> ScheduledSyncResult:
        try:
            sync = await workflow.start_child_workflow(
                ErpCrmSync.run,
                input,
                id=WORKFLOW_ID,
                # A tick cancelled or terminated leaves its sync to finish: a half-read feed
                # would only be read again by the next one.
                parent_close_policy=workflow.ParentClosePolicy.ABANDON,
                static_summary="the scheduled ERP→CRM sync",
            )
        except WorkflowAlreadyStartedError:
            why = f"a sync is already running (workflow {WORKFLOW_ID})"
            workflow.logger.info("sync tick skipped: %s", why)
            workflow.set_current_details(f"skipped: {why}")
            return ScheduledSyncResult(skipped=why)
        return ScheduledSyncResult(result=await sync)
