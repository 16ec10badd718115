"""`continuum sync run|status|reconcile|quarantine list|quarantine redrive`: the ERP→CRM sync.

`run` starts the sync workflow under its fixed id (`erp-crm-sync`), the id the schedule's ticks
run it under too (workflows/sync/scheduled.py), so at most one runs whoever starts it; the
quarantine is read from the sync store (SYNC_DB) and redriven by the `SyncQuarantineRedrive`
workflow, whose activity runs on a worker with the ERP and CRM connectors. Every failure prints
one line and exits non-zero.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, TypeVar

import typer
from rich.table import Table
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowHandle,
)
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from continuum.client import connect
from continuum.settings import get_settings
from domain.sync.contract import (
    RECONCILE_WORKFLOW,
    RECONCILE_WORKFLOW_ID,
    REDRIVE_WORKFLOW,
    REDRIVE_WORKFLOW_ID,
    WORKFLOW_ID,
    WORKFLOW_NAME,
    Message,
)
from domain.sync.models import (
    DriftReport,
    ReconcileInput,
    RedriveRequest,
    RedriveResult,
    SyncInput,
    SyncProgress,
    SyncResult,
    SyncTotals,
)
from starters.console import console, fail
from starters.console import run as run_command
from store import Store, StoreError
from store.sync import SyncStore

T = TypeVar("T")
R = TypeVar("R")
sync_app = typer.Typer(
    help="The ERP→CRM sync: run it, watch it, its quarantine.", no_args_is_help=True
)
quarantine_app = typer.Typer(
    help="Records the sync put aside, and their redrive.", no_args_is_help=True
)
sync_app.add_typer(quarantine_app, name="quarantine")


class SyncCliError(Exception):
    pass


def with_client(fn: Callable[[Client], Awaitable[T]]) -> T:
    async def go() -> T:
        return await fn(await connect())

    try:
        return run_command(go(), SyncCliError)
    except WorkflowFailureError as err:
        cause = err.cause
        while cause is not None and cause.__cause__ is not None:
            cause = cause.__cause__
        raise fail(f"the workflow failed: {cause or err}") from None


def store() -> SyncStore:
    settings = get_settings()
    try:
        return SyncStore(Store(settings.store_url, legacy=settings.legacy_store_files).open())
    except StoreError as err:
        raise fail(str(err)) from None


async def _start(
    client: Client, workflow: str, arg: Any, workflow_id: str, what: str, result_type: type[R]
) -> WorkflowHandle[Any, R]:
    try:
        return await client.start_workflow(
            workflow,
            arg,
            id=workflow_id,
            result_type=result_type,
            task_queue=get_settings().task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
            static_summary=what,
        )
    except WorkflowAlreadyStartedError:
        raise SyncCliError(
            f"{what} is already running (workflow {workflow_id}); "
            "see `continuum sync status`, or wait for it to finish"
        ) from None


def _totals_table(totals: SyncTotals, watermarks: dict[str, datetime | None]) -> Table:
    table = Table(title=f"ERP→CRM sync · {totals.pages} pages · {totals.runs} run(s)")
    for column in ("feed", "pages", "records", "upserted", "quarantined", "skipped", "watermark"):
        table.add_column(column)
    for feed, t in totals.feeds.items():
        upserted = ", ".join(f"{k} {v}" for k, v in t.upserted.items())
        mark = watermarks.get(feed)
        table.add_row(
            feed,
            str(t.pages),
            str(t.records),
            upserted,
            str(t.quarantined),
            str(t.skipped),
            f"{mark:%Y-%m-%d %H:%M:%S.%f}" if mark else "",
        )
    return table


def _drift_table(report: DriftReport) -> Table:
    table = Table(title=f"reconciliation {report.since or '…'} → {report.until or 'now'}")
    for column in ("object", "ERP", "CRM", "matching", "missing", "different", "extra", "quar."):
        table.add_column(column)
    for target, d in report.targets.items():
        table.add_row(
            target,
            str(d.erp),
            str(d.crm if d.crm_in_window is None else d.crm_in_window),
            str(d.matching),
            str(d.missing),
            str(d.different),
            str(d.extra),
            str(d.quarantined),
        )
    return table


@sync_app.command("run")
def run(
    wait: Annotated[bool, typer.Option(help="Wait until the sync has finished.")] = False,
    page_size: Annotated[
        int | None, typer.Option(min=1, max=1000, help="Records per page (SYNC_PAGE_SIZE).")
    ] = None,
    full_resync: Annotated[bool, typer.Option(help="Read every feed from its start.")] = False,
    reconcile_hours: Annotated[
        float | None, typer.Option(min=0.001, help="Reconcile the last N hours afterwards.")
    ] = None,
) -> None:
    """Start the sync (one at a time): changes since the watermarks, page by page."""
    request = SyncInput(
        page_size=page_size or get_settings().sync_page_size,
        full_resync=full_resync,
        reconcile_hours=reconcile_hours,
    )

    async def go(client: Client) -> None:
        handle = await _start(
            client, WORKFLOW_NAME, request, WORKFLOW_ID, "the ERP→CRM sync", SyncResult
        )
        console.print(f"started the ERP→CRM sync (workflow {WORKFLOW_ID})")
        if wait:
            with console.status("syncing…"):
                result = await handle.result()
            console.print(_totals_table(result.totals, result.watermarks))
            if result.drift is not None:
                console.print(_drift_table(result.drift))

    with_client(go)


@sync_app.command("status")
def status() -> None:
    """The running sync's progress, the watermarks and the quarantine."""
    sync_store = store()

    async def go(client: Client) -> None:
        handle = client.get_workflow_handle(WORKFLOW_ID)
        try:
            described = await handle.describe()
        except RPCError as err:
            if err.status != RPCStatusCode.NOT_FOUND:
                raise
            console.print("the sync has not run yet")
            return
        state = described.status.name.lower() if described.status else "unknown"
        console.print(f"sync workflow {WORKFLOW_ID}: {state}")
        if described.status == WorkflowExecutionStatus.RUNNING:
            progress: SyncProgress = await handle.query(Message.PROGRESS, result_type=SyncProgress)
            console.print(f"  {progress.state}, feed {progress.feed}, page {progress.page}")
            console.print(_totals_table(progress.totals, progress.totals.watermarks))

    with_client(go)
    table = Table(title="watermarks (sync store)")
    for column in ("feed", "synced through", "acknowledged at", "resumes at"):
        table.add_column(column)
    for mark in sync_store.watermarks():
        table.add_row(
            mark.feed,
            f"{mark.synced_through:%Y-%m-%d %H:%M:%S.%f}" if mark.synced_through else "",
            f"{mark.acknowledged_at:%Y-%m-%d %H:%M:%S}" if mark.acknowledged_at else "",
            "cursor" if mark.cursor else (str(mark.position) if mark.position else "the start"),
        )
    console.print(table)
    console.print(
        f"quarantine: {sync_store.quarantine_size()} open · "
        f"drift to repair: {sync_store.drift_size()}"
    )


@sync_app.command("reconcile")
def reconcile(
    hours: Annotated[
        float | None, typer.Option(min=0.001, help="The last N hours (default: everything).")
    ] = None,
) -> None:
    """Compare the ERP and the CRM (counts, a checksum per record); the next run repairs drift."""
    until = datetime.now(UTC)
    request = ReconcileInput(
        since=until - timedelta(hours=hours) if hours else None,
        until=until,
        page_size=get_settings().sync_page_size,
    )

    async def go(client: Client) -> DriftReport:
        handle = await _start(
            client,
            RECONCILE_WORKFLOW,
            request,
            RECONCILE_WORKFLOW_ID,
            "a reconciliation",
            DriftReport,
        )
        with console.status("reconciling…"):
            return await handle.result()

    report = with_client(go)
    console.print(_drift_table(report))
    console.print(
        f"drift: {report.drift}"
        + (" — the next `continuum sync run` repairs it" if report.drift else "")
    )


@quarantine_app.command("list")
def quarantine_list(
    all_: Annotated[bool, typer.Option("--all", help="Resolved entries too.")] = False,
) -> None:
    """The quarantined records: what, why, since when."""
    entries = store().entries(status=None if all_ else "open")
    table = Table(title=f"quarantine: {len(entries)} {'entries' if all_ else 'open'}")
    for column in ("id", "feed → object", "record", "field", "reason", "seen", "last seen"):
        table.add_column(column)
    if all_:
        table.add_column("status")
    for e in entries:
        row = [
            str(e.id),
            f"{e.source} → {e.target}",
            e.record_id,
            e.field,
            e.reason,
            f"{e.times}×",
            f"{e.last_seen:%Y-%m-%d %H:%M:%S}",
        ]
        table.add_row(*row, *([e.status] if all_ else []))
    console.print(table)


@quarantine_app.command("redrive")
def quarantine_redrive(
    ids: Annotated[
        list[int] | None, typer.Option("--id", help="An entry to redrive (repeatable).")
    ] = None,
    all_: Annotated[bool, typer.Option("--all", help="Every open entry.")] = False,
) -> None:
    """Re-read each entry's current ERP record, re-map it, and upsert it if it is good now."""
    if bool(ids) == all_:
        raise fail("say which entries: --id ID (repeatable) or --all")
    if ids:
        open_ids = {e.id for e in store().entries(ids=ids)}
        unknown = sorted(set(ids) - open_ids)
        if unknown:
            raise fail(
                f"no open quarantine entry {', '.join(map(str, unknown))}; "
                "see `continuum sync quarantine list`"
            )

    async def go(client: Client) -> RedriveResult:
        handle = await _start(
            client,
            REDRIVE_WORKFLOW,
            RedriveRequest(ids=ids or None),
            REDRIVE_WORKFLOW_ID,
            "a quarantine redrive",
            RedriveResult,
        )
        with console.status("redriving…"):
            return await handle.result()

    result = with_client(go)
    console.print(
        f"landed {len(result.resolved)}, still bad {len(result.still_bad)}, "
        f"no longer in the ERP {len(result.not_found)}"
    )
    for entry in store().entries(ids=result.still_bad):
        console.print(f"  {entry.id} {entry.record_id}: {entry.field} {entry.reason}")
