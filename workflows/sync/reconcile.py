"""Reconciliation: compare the ERP and the CRM over a window of updated_at, page by page.

Each page (`SyncActivities.sync_reconcile_page`) maps the ERP's records, reads the CRM objects
they should be, compares a checksum of the mapped properties, and files what is missing or
different as drift in the sync store; the next sync run repairs it (`sync_repair_drift`).
The report adds counts of the CRM objects in the window, so objects only the CRM has show too.
"""

from __future__ import annotations

from pydantic import ValidationError
from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.sync import SyncActivities
    from domain.sync.contract import RECONCILE_WORKFLOW
    from domain.sync.models import (
        CountRequest,
        DriftReport,
        ReconcileInput,
        ReconcilePageRequest,
        TargetDrift,
    )
    from workflows.policies import SYNC_PAGE

MAX_PAGES_PER_RUN = 500


# An input that does not decode fails the workflow instead of retrying its task forever.
@workflow.defn(name=RECONCILE_WORKFLOW, failure_exception_types=[ValidationError])
class ErpCrmReconcile:
    @workflow.run
    async def run(self, input: ReconcileInput) -> DriftReport:
        report = input.report or DriftReport(since=input.since, until=input.until)
        pages = 0
        for index in range(input.feed_index, len(input.feeds)):
            feed, cursor = input.feeds[index], input.cursor if index == input.feed_index else None
            while True:
                if pages >= MAX_PAGES_PER_RUN:
                    workflow.continue_as_new(
                        input.model_copy(
                            update={"feed_index": index, "cursor": cursor, "report": report}
                        )
                    )
                page = await workflow.execute_activity_method(
                    SyncActivities.sync_reconcile_page,
                    ReconcilePageRequest(
                        feed=feed,
                        since=input.since,
                        until=input.until,
                        cursor=cursor,
                        page_size=input.page_size,
                        mapping=input.mapping,
                    ),
                    **SYNC_PAGE,
                )
                pages += 1
                for target, tally in page.targets.items():
                    report.targets.setdefault(target, TargetDrift()).add(tally)
                if page.done:
                    break
                cursor = page.next_cursor
        counts = await workflow.execute_activity_method(
            SyncActivities.sync_reconcile_counts,
            CountRequest(targets=sorted(report.targets), since=input.since, until=input.until),
            **SYNC_PAGE,
        )
        for target, count in counts.counts.items():
            tally = report.targets[target]
            tally.crm_in_window = count
            tally.extra = max(0, count - tally.matching - tally.different)
        return report
