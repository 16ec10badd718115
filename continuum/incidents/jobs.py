"""Start a repair job from a verified plan, and follow it: what `continuum incidents apply |
status` and the inbox's Incidents page call.

The plan is verified here, before anything starts (signature, validity), and every apply and
every refusal goes into the audit. The job is the `IncidentRepair` workflow on the ops queue,
id `repair-<plan id>`: a plan is applied once, ever.
"""

from __future__ import annotations

import asyncio
from datetime import datetime

from temporalio.client import Client, WorkflowHandle
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from continuum.incidents.plans import PlanError, verify_plan
from domain.incidents.contract import (
    TASK_QUEUE,
    WORKFLOW_NAME,
    Message,
    Plan,
    RepairInput,
    RepairProgress,
    workflow_id,
)
from store.incidents import AuditEvent, IncidentAudit


class RepairError(Exception):
    """A job could not be started or read; the message is one line saying why."""


def job_id(job: str) -> str:
    """`repair-<plan id>` for a job named by either its plan id or its workflow id."""
    return job if job.startswith("repair-") else workflow_id(job)


class RepairJobs:
    def __init__(self, client: Client, audit: IncidentAudit, task_queue: str = TASK_QUEUE) -> None:
        self.client = client
        self.audit = audit
        self.task_queue = task_queue

    async def apply(self, plan: Plan, by: str, key: bytes, now: datetime) -> str:
        """Verifies the plan and starts its job; returns the job's workflow id. A refusal is
        audited and raised as `PlanError` (or `RepairError`), and nothing starts."""
        if not by.strip():
            raise RepairError("say who applies the plan (--by)")
        try:
            verify_plan(plan, key, now)
        except PlanError as err:
            await self._refused(plan, by, str(err), now)
            raise
        await asyncio.to_thread(lambda: self.audit.apply_requested(plan, by, now))
        job = workflow_id(plan.plan_id)
        try:
            await self.client.start_workflow(
                WORKFLOW_NAME,
                RepairInput(plan=plan, applied_by=by),
                id=job,
                task_queue=self.task_queue,
                # A plan acts once: applying it again would act on processes that moved.
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                static_summary=(
                    f"Repair {plan.plan_id}: {plan.action.value} on {len(plan.items)} process(es)"
                ),
                static_details=f"**Ticket** {plan.ticket}\n\n**Reason** {plan.reason}\n\n"
                f"**Planned by** {plan.operator}, **applied by** {by}",
            )
        except WorkflowAlreadyStartedError:
            why = f"plan {plan.plan_id} was already applied (job {job}); plan again to repeat it"
            await self._refused(plan, by, why, now)
            raise RepairError(why) from None
        await asyncio.to_thread(
            lambda: self.audit.job(plan.plan_id, AuditEvent.STARTED, by, job, now)
        )
        return job

    async def _refused(self, plan: Plan, by: str, why: str, now: datetime) -> None:
        await asyncio.to_thread(lambda: self.audit.refused(plan.plan_id, by, why, plan.action, now))

    def handle(self, job: str) -> WorkflowHandle[object, RepairProgress]:
        return self.client.get_workflow_handle(job_id(job), result_type=RepairProgress)

    async def progress(self, job: str) -> RepairProgress:
        """The job's progress (its query), running or finished."""
        try:
            progress: RepairProgress = await self.handle(job).query(
                Message.PROGRESS, result_type=RepairProgress
            )
            return progress
        except RPCError as err:
            if err.status is RPCStatusCode.NOT_FOUND:
                raise RepairError(f"unknown repair job {job_id(job)}") from None
            raise RepairError(f"repair job {job_id(job)}: {err.message}") from None
