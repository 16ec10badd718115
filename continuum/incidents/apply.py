"""Start a repair job from a verified plan, and follow it: what `continuum incidents apply |
status` and the inbox's Incidents page call.

The plan is verified here, before anything starts (signature, validity), and every apply and
every refusal goes into the audit. The job is the `IncidentRepair` workflow on the ops queue,
id `repair-<plan id>`: a plan is applied once, ever.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime

from temporalio.client import Client
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from continuum.incidents.key import IncidentKeyError, incident_key
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


async def start_repair(
    client: Client,
    plan: Plan,
    applied_by: str,
    audit: IncidentAudit | None,
    *,
    key: bytes | None = None,
    now: datetime | None = None,
    task_queue: str = TASK_QUEUE,
) -> str:
    """Verifies the plan and starts its job; returns the job's workflow id. A refusal is
    audited and raised as `PlanError` or `RepairError`, and nothing starts.

    `key`: the installation's (default `incident_key()`); `now`: the verifier's clock."""
    now = now or datetime.now(UTC)
    if not applied_by.strip():
        raise RepairError("say who applies the plan (--by)")
    try:
        verify_plan(plan, key if key is not None else incident_key(), now)
    except (PlanError, IncidentKeyError) as err:
        refusal = str(err)
        await _audit(
            audit, lambda a: a.refused(plan.plan_id, applied_by, refusal, plan.action, now)
        )
        raise
    await _audit(audit, lambda a: a.apply_requested(plan, applied_by, now))
    job = workflow_id(plan.plan_id)
    try:
        await client.start_workflow(
            WORKFLOW_NAME,
            RepairInput(plan=plan, applied_by=applied_by),
            id=job,
            task_queue=task_queue,
            # A plan acts once: applying it again would act on processes that moved since.
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            static_summary=(
                f"Repair {plan.plan_id}: {plan.action.value} on {len(plan.items)} process(es)"
            ),
            static_details=f"**Ticket** {plan.ticket}\n\n**Reason** {plan.reason}\n\n"
            f"**Planned by** {plan.operator}, **applied by** {applied_by}",
        )
    except WorkflowAlreadyStartedError:
        why = f"plan {plan.plan_id} was already applied (job {job}); plan again to repeat it"
        await _audit(audit, lambda a: a.refused(plan.plan_id, applied_by, why, plan.action, now))
        raise RepairError(why) from None
    await _audit(audit, lambda a: a.job(plan.plan_id, AuditEvent.STARTED, applied_by, job, now))
    return job


async def _audit(audit: IncidentAudit | None, write: Callable[[IncidentAudit], object]) -> None:
    if audit is not None:
        await asyncio.to_thread(write, audit)


async def repair_progress(client: Client, plan_id: str) -> RepairProgress:
    """The job's progress (its `progress` query), running or finished; `plan_id` may also be
    the job's workflow id."""
    job = job_id(plan_id)
    try:
        progress: RepairProgress = await client.get_workflow_handle(job).query(
            Message.PROGRESS, result_type=RepairProgress
        )
        return progress
    except RPCError as err:
        if err.status is RPCStatusCode.NOT_FOUND:
            raise RepairError(f"unknown repair job {job}") from None
        raise RepairError(f"repair job {job}: {err.message}") from None
