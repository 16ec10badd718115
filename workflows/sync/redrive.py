"""Redrive the sync's quarantine: one activity that re-reads, re-maps and upserts the entries.

A workflow rather than a bare activity call, so that the CLI's request is retried by Temporal
(a CRM 429 or a worker restart does not lose it) and shows in the Web UI with its result.
"""

from __future__ import annotations

from pydantic import ValidationError
from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.sync import SyncActivities
    from domain.sync.contract import REDRIVE_WORKFLOW
    from domain.sync.models import RedriveRequest, RedriveResult
    from workflows.policies import SYNC_PAGE


# An input that does not decode fails the workflow instead of retrying its task forever.
@workflow.defn(name=REDRIVE_WORKFLOW, failure_exception_types=[ValidationError])
class SyncQuarantineRedrive:
    @workflow.run
    async def run(self, input: RedriveRequest) -> RedriveResult:
        return await workflow.execute_activity_method(
            SyncActivities.sync_redrive, input, **SYNC_PAGE
        )
