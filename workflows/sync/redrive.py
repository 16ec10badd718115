"""Redrive the sync's quarantine: one activity that re-reads, re-maps and upserts the entries.

A workflow rather than a bare activity call, so that the CLI's request is retried by Temporal
(a CRM 429 or a worker restart does not lose it) and shows in the Web UI with its result.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain.sync.models import REDRIVE_WORKFLOW, RedriveRequest, RedriveResult
    from workflows.policies import SYNC_PAGE


@workflow.defn(name=REDRIVE_WORKFLOW)
class SyncQuarantineRedrive:
    @workflow.run
    async def run(self, input: RedriveRequest) -> RedriveResult:
        result: RedriveResult = await workflow.execute_activity(
            "sync_redrive", input, result_type=RedriveResult, **SYNC_PAGE
        )
        return result
