"""ERP→CRM sync: repair what reconciliation found, then each feed page by page, then reconcile.

Pages are activities (`activities.sync.sync_page`) that read from the stored watermark and move
it only once the CRM acknowledged the page: the workflow keeps running totals and progress, and
continues as new after `max_pages_per_run` pages (or when Temporal suggests it) with the totals,
so that a sync of millions of records keeps a short history.
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import ValidationError
from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.sync import SyncActivities
    from domain.events import sync as events
    from domain.sync.contract import WORKFLOW_NAME, Message, reconcile_child_id
    from domain.sync.models import (
        DriftReport,
        PageRequest,
        PageResult,
        ReconcileInput,
        RepairRequest,
        ResetRequest,
        SyncInput,
        SyncProgress,
        SyncResult,
    )
    from workflows import search_attributes as sa
    from workflows.events import Events
    from workflows.policies import SYNC_PAGE
    from workflows.sync.reconcile import ErpCrmReconcile

# Syncs started before it hand over no business events (their histories have no markers).
EVENTS_PATCH = "sync-events"


# An input that does not decode fails the workflow instead of retrying its task forever.
@workflow.defn(name=WORKFLOW_NAME, failure_exception_types=[ValidationError])
class ErpCrmSync:
    @workflow.init
    def __init__(self, input: SyncInput) -> None:
        self._progress = SyncProgress(totals=input.totals.model_copy(deep=True))
        info = workflow.info()
        # Every sync reuses the one workflow id: its events are numbered per chain of runs.
        process = events.process_id(info.workflow_id, info.first_execution_run_id)
        self._events = Events(process, events.SOURCE, EVENTS_PATCH, input.events_sequence)

    @workflow.query(name=Message.PROGRESS)
    def progress(self) -> SyncProgress:
        return self._progress

    @workflow.run
    async def run(self, input: SyncInput) -> SyncResult:
        totals = self._progress.totals
        totals.runs += 1
        sync_id = workflow.info().first_execution_run_id
        if totals.runs == 1:
            if input.full_resync:
                await workflow.execute_activity_method(
                    SyncActivities.sync_reset_watermarks,
                    ResetRequest(feeds=input.feeds),
                    **SYNC_PAGE,
                )
            await workflow.execute_activity_method(
                SyncActivities.sync_repair_drift,
                RepairRequest(mapping=input.mapping),
                **SYNC_PAGE,
            )
        if totals.runs == 1:
            self._publish("syncing")
        self._progress.state = "syncing"
        pages = 0
        for index in range(input.feed_index, len(input.feeds)):
            feed = input.feeds[index]
            self._progress.feed = feed
            while True:
                if (
                    pages >= input.max_pages_per_run
                    or workflow.info().is_continue_as_new_suggested()
                ):
                    await self._events.flush()
                    carried = {
                        "feed_index": index,
                        "totals": totals,
                        "full_resync": False,
                        "events_sequence": self._events.sequence,
                    }
                    workflow.continue_as_new(input.model_copy(update=carried))
                page = await workflow.execute_activity_method(
                    SyncActivities.sync_page,
                    PageRequest(
                        feed=feed,
                        page_size=input.page_size,
                        mapping=input.mapping,
                        sync_id=sync_id,
                        page=totals.pages + 1,
                    ),
                    **SYNC_PAGE,
                )
                pages += 1
                totals.add(page)
                if page.quarantined:
                    self._emit_quarantined(sync_id, page)
                self._progress.page = totals.pages
                workflow.set_current_details(self._details())
                if page.done:
                    break
        drift = await self._reconcile(input)
        self._publish("done")
        self._progress.state = "done"
        workflow.set_current_details(self._details())
        result = SyncResult(totals=totals, watermarks=totals.watermarks, drift=drift)
        self._emit_completed(sync_id, result)
        await self._events.flush()
        return result

    def _emit_quarantined(self, sync_id: str, page: PageResult) -> None:
        data = events.SyncQuarantined(
            sync_id=sync_id,
            feed=page.feed,
            page=self._progress.totals.pages,
            quarantined=page.quarantined,
            feed_quarantined=self._progress.totals.feeds[page.feed].quarantined,
        )
        self._events.emit(events.QUARANTINED, workflow.info().workflow_id, data)

    def _emit_completed(self, sync_id: str, result: SyncResult) -> None:
        totals = result.totals
        feeds = {
            feed: events.FeedSummary(
                records=t.records,
                upserted=t.upserted,
                quarantined=t.quarantined,
                skipped=t.skipped,
                watermark=totals.watermarks.get(feed),
            )
            for feed, t in totals.feeds.items()
        }
        data = events.SyncCompleted(
            sync_id=sync_id,
            runs=totals.runs,
            pages=totals.pages,
            records=totals.records,
            quarantined=sum(t.quarantined for t in totals.feeds.values()),
            feeds=feeds,
            drift=result.drift.drift if result.drift is not None else None,
        )
        self._events.emit(events.COMPLETED, workflow.info().workflow_id, data)

    def _publish(self, stage: str) -> None:
        """ProcessStatus and StateSince follow the stage, so the watchdog sees a sync that hangs."""
        if since := sa.state_since():
            workflow.upsert_search_attributes([sa.PROCESS_STATUS.value_set(stage.title()), *since])

    async def _reconcile(self, input: SyncInput) -> DriftReport | None:
        if input.reconcile_hours is None:
            return None
        self._publish("reconciling")
        self._progress.state = "reconciling"
        workflow.set_current_details(self._details())
        now = workflow.now()
        return await workflow.execute_child_workflow(
            ErpCrmReconcile.run,
            ReconcileInput(
                feeds=input.feeds,
                since=now - timedelta(hours=input.reconcile_hours),
                until=now,
                page_size=input.page_size,
                mapping=input.mapping,
            ),
            id=reconcile_child_id(workflow.info().workflow_id, workflow.uuid4().hex[:8]),
        )

    def _details(self) -> str:
        p = self._progress
        rows = "\n".join(
            f"| {feed} | {t.pages} | {t.records} | {sum(t.upserted.values())} | {t.quarantined}"
            f" | {p.totals.watermarks.get(feed) or '—'} |"
            for feed, t in p.totals.feeds.items()
        )
        return (
            f"**{p.state}** · page {p.page} · run {p.totals.runs}\n\n"
            "| feed | pages | records | upserted | quarantined | watermark |\n"
            f"|---|---|---|---|---|---|\n{rows}"
        )
