"""The daily report: figures from the ERP, the CRM, the sync and Temporal for one local day.

Started by the daily schedule (no day given: the day before, in the report's time zone) or on
demand (`continuum report --date D`). The ERP, CRM, sync, alert and procure-to-pay figures
degrade: a system that stays down through the retries leaves its figures unavailable, with a
note, and the report still lands. The order KPIs come from Temporal itself; without them there
is no report.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

from pydantic import BaseModel, ValidationError
from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.reports import ReportActivities
    from domain.alerts.figures import AlertFigures
    from domain.purchasing.figures import PurchaseFigures, PurchaseLedger
    from domain.reports import (
        WORKFLOW_NAME,
        CrmFigures,
        DailyReport,
        ErpFigures,
        PublishedReport,
        ReportError,
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
    from workflows.steps import Step, step_name

A = TypeVar("A", bound=BaseModel)
R = TypeVar("R", bound=BaseModel)


# An input that does not decode fails the workflow instead of retrying its task forever.
@workflow.defn(name=WORKFLOW_NAME, failure_exception_types=[ValidationError])
class DailyReportWorkflow:
    @workflow.run
    async def run(self, request: ReportRequest) -> ReportResult:
        window = self._window(request)
        steps = ReportActivities
        erp, crm, runs = await asyncio.gather(
            self._figures(steps.report_erp_figures, window, _erp_missing),
            self._figures(steps.report_crm_figures, window, _crm_missing),
            self._step(steps.report_order_runs, window),
        )
        sync = await self._figures(steps.report_sync_figures, erp, _sync_missing)
        alerts = None
        # Reports started before the alerts section replay without it.
        if workflow.patched("report-alerts"):
            alerts = await self._figures(steps.report_alerts, window, _alerts_missing)
        purchases = None
        # Reports started before the procure-to-pay section replay without it.
        if workflow.patched("report-purchases"):
            purchases, ledger = await asyncio.gather(
                self._figures(steps.report_purchases, window, _purchases_missing),
                self._figures(steps.report_purchase_ledger, window, _ledger_missing),
            )
            purchases.ledger = ledger
        report = DailyReport(
            window=window,
            kpis=order_kpis(runs),
            orders=runs.closed,
            erp=erp,
            crm=crm,
            sync=sync,
            alerts=alerts,
            purchases=purchases,
        )
        files = await self._step(steps.write_report_files, report)
        try:
            posted = await self._step(
                steps.post_report, PublishedReport(report=report, files=files)
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

    async def _step(self, step: Step[A, R], arg: A) -> R:
        summary = step_name(step).replace("_", " ")
        return await workflow.execute_activity_method(step, arg, summary=summary, **REPORT_STEP)

    async def _figures(self, step: Step[A, R], arg: A, missing: Callable[[str], R]) -> R:
        """Figures that may be missing: a system down for good leaves a note, not a failure."""
        try:
            return await self._step(step, arg)
        except ActivityError as err:
            return missing(reason(err))


def _erp_missing(why: str) -> ErpFigures:
    return ErpFigures(note=f"ERP figures unavailable: {why}")


def _crm_missing(why: str) -> CrmFigures:
    return CrmFigures(available=False, note=f"CRM figures unavailable: {why}")


def _alerts_missing(why: str) -> AlertFigures:
    return AlertFigures(available=False, note=f"alert figures unavailable: {why}")


def _purchases_missing(why: str) -> PurchaseFigures:
    return PurchaseFigures(available=False, note=f"procure-to-pay figures unavailable: {why}")


def _ledger_missing(why: str) -> PurchaseLedger:
    return PurchaseLedger(available=False, note=f"ERP purchase ledger unavailable: {why}")


def _sync_missing(why: str) -> SyncFigures:
    return SyncFigures(available=False, note=f"sync figures unavailable: {why}")
