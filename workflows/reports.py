"""The daily report: figures from the ERP, the CRM, the sync and Temporal for one local day.

Started by the daily schedule (no day given: the day before, in the report's time zone) or on
demand (`continuum report --date D`). The ERP, CRM and sync figures degrade: a system that stays
down through the retries leaves its figures unavailable, with a note, and the report still
lands. The order KPIs come from Temporal itself; without them there is no report.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

from pydantic import BaseModel
from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from domain.reports import (
        WORKFLOW_NAME,
        CrmFigures,
        DailyReport,
        ErpFigures,
        OrderRuns,
        PublishedReport,
        ReportError,
        ReportFiles,
        ReportRequest,
        ReportResult,
        ReportWindow,
        SyncFigures,
        WebhookAnswer,
        day_window,
        order_kpis,
        previous_day,
    )
    from workflows.failures import reason
    from workflows.policies import REPORT_STEP

T = TypeVar("T", bound=BaseModel)


@workflow.defn(name=WORKFLOW_NAME)
class Report:
    @workflow.run
    async def run(self, request: ReportRequest) -> ReportResult:
        window = self._window(request)
        erp, crm, runs = await asyncio.gather(
            self._figures("report_erp_figures", window, ErpFigures, _erp_missing),
            self._figures("report_crm_figures", window, CrmFigures, _crm_missing),
            self._step("report_order_runs", window, OrderRuns),
        )
        sync = await self._figures("report_sync_figures", erp, SyncFigures, _sync_missing)
        report = DailyReport(
            window=window, kpis=order_kpis(runs), orders=runs.closed, erp=erp, crm=crm, sync=sync
        )
        files = await self._step("write_report_files", report, ReportFiles)
        try:
            posted = await self._step(
                "post_report", PublishedReport(report=report, files=files), WebhookAnswer
            )
        except ActivityError as err:
            workflow.logger.warning("the report webhook refused: %s", reason(err))
            posted = WebhookAnswer(posted=False)
        return ReportResult(
            day=window.day,
            directory=files.directory,
            files=files.files,
            empty=report.empty,
            kpis=report.kpis,
            posted=posted.posted,
        )

    def _window(self, request: ReportRequest) -> ReportWindow:
        now = workflow.now()
        try:
            day = request.day or previous_day(now, request.timezone)
            start, end = day_window(day, request.timezone)
        except ReportError as err:
            raise ApplicationError(str(err), type="InvalidReport", non_retryable=True) from err
        return ReportWindow(day=day, timezone=request.timezone, start=start, end=end, as_of=now)

    async def _step(self, name: str, arg: BaseModel, result_type: type[T]) -> T:
        result: T = await workflow.execute_activity(
            name, arg, result_type=result_type, summary=name.replace("_", " "), **REPORT_STEP
        )
        return result

    async def _figures(
        self, name: str, arg: BaseModel, result_type: type[T], missing: Callable[[str], T]
    ) -> T:
        """Figures that may be missing: a system down for good leaves a note, not a failure."""
        try:
            return await self._step(name, arg, result_type)
        except ActivityError as err:
            return missing(reason(err))


def _erp_missing(why: str) -> ErpFigures:
    return ErpFigures(note=f"ERP figures unavailable: {why}")


def _crm_missing(why: str) -> CrmFigures:
    return CrmFigures(available=False, note=f"CRM figures unavailable: {why}")


def _sync_missing(why: str) -> SyncFigures:
    return SyncFigures(available=False, note=f"sync figures unavailable: {why}")
