"""`continuum report --date D [--wait]`: the daily report for one day, on demand."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

import typer
from rich.console import Console
from temporalio.client import Client, WorkflowFailureError
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.exceptions import ApplicationError

from continuum import schedules
from continuum.client import connect
from continuum.settings import get_settings
from domain.reports import (
    WORKFLOW_NAME,
    ReportError,
    ReportRequest,
    ReportResult,
    parse_day,
    report_id,
    zone,
)
from domain.sync.contract import WORKFLOW_ID as SYNC_WORKFLOW_ID
from domain.sync.contract import WORKFLOW_NAME as SYNC_WORKFLOW
from domain.sync.models import SyncInput, SyncResult
from starters.console import console, fail, run


def today(timezone: str) -> date:
    return datetime.now(zone(timezone)).date()


async def run_report(client: Client, day: date, timezone: str, task_queue: str) -> ReportResult:
    """Runs the report for `day` and waits for it; a run already going for that day is joined."""
    handle = await client.start_workflow(
        WORKFLOW_NAME,
        ReportRequest(day=day, timezone=timezone),
        id=report_id(day),
        task_queue=task_queue,
        result_type=ReportResult,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
    )
    result: ReportResult = await handle.result()
    return result


def describe(result: ReportResult) -> str:
    k = result.kpis
    if result.empty:
        figures = "no orders and no sales: an empty report"
    else:
        rate = "n/a" if k.success_rate is None else f"{k.success_rate:.1%}"
        figures = (
            f"{k.started} started, {k.completed} completed, {k.compensated} compensated, "
            f"{k.failed} failed; success rate {rate} (target {k.target:.0%})"
        )
    return f"report {result.day}: {figures}\n  → {result.directory}/index.html"


def report(
    day: Annotated[
        str | None, typer.Option("--date", help="The day, YYYY-MM-DD; default: today.")
    ] = None,
    wait: Annotated[bool, typer.Option(help="Wait for the report and say where it is.")] = False,
) -> None:
    """The daily report for one day (in REPORT_TIMEZONE): HTML, charts and CSV under reports/."""
    settings = get_settings()
    try:
        timezone = settings.report_timezone
        wanted = parse_day(day) if day is not None else today(timezone)
    except ReportError as err:
        raise fail(str(err)) from None

    async def go() -> ReportResult | None:
        client = await connect()
        if not wait:
            await client.start_workflow(
                WORKFLOW_NAME,
                ReportRequest(day=wanted, timezone=timezone),
                id=report_id(wanted),
                task_queue=settings.task_queue,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            )
            return None
        return await run_report(client, wanted, timezone, settings.task_queue)

    try:
        result = run(go())
    except WorkflowFailureError as err:
        cause = err.cause
        why = cause.message if isinstance(cause, ApplicationError) else str(cause or err)
        raise fail(f"the report for {wanted} failed: {why}") from None
    if result is None:
        console.print(f"report for {wanted} started (workflow {report_id(wanted)})")
    else:
        console.print(describe(result), highlight=False)


async def first_sync(client: Client, out: Console, task_queue: str) -> None:
    """One sync run at start-up, waited for, so that the CRM fills from the ERP at once and the
    first report sees it (the schedule's first tick is minutes away). A run already going
    (the schedule's, or `continuum sync run`) is joined instead of doubled."""
    try:
        with out.status("first ERP→CRM sync…"):
            result = await client.execute_workflow(
                SYNC_WORKFLOW,
                SyncInput(),
                id=SYNC_WORKFLOW_ID,
                task_queue=task_queue,
                result_type=SyncResult,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                static_summary="the first ERP→CRM sync after start-up",
            )
    except WorkflowFailureError as err:
        out.print(f"[bold red]the first sync failed:[/] {err.cause or err}", highlight=False)
        return
    feeds = result.totals.feeds
    upserted = sum(n for t in feeds.values() for n in t.upserted.values())
    quarantined = sum(t.quarantined for t in feeds.values())
    out.print(
        f"First sync: {result.totals.records} ERP record(s) read, {upserted} CRM upsert(s), "
        f"{quarantined} quarantined (`continuum sync status`)",
        highlight=False,
    )


async def schedules_and_first_report(client: Client, out: Console) -> None:
    """What `continuum up` does once the stack runs: apply the schedules, then write today's
    report so that one lands under reports/ at once (the schedule's first is tomorrow)."""
    settings = get_settings()
    try:
        applied = await schedules.apply(client, schedules.desired_schedules(settings))
    except schedules.ScheduleError as err:
        out.print(f"[bold red]schedules not applied:[/] {err}", highlight=False)
    else:
        names = ", ".join(f"{a.schedule_id} ({a.change.value})" for a in applied)
        out.print(f"Schedules: {names}", highlight=False)
        await first_sync(client, out, settings.task_queue)
    try:
        timezone = settings.report_timezone
        result = await run_report(client, today(timezone), timezone, settings.task_queue)
    except (WorkflowFailureError, ReportError) as err:
        out.print(f"[bold red]no report today:[/] {err}", highlight=False)
    else:
        out.print(describe(result), highlight=False)
