"""`continuum schedules apply|list|pause|resume|trigger`: the Temporal Schedules of Continuum."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

import typer
from rich.table import Table
from temporalio.client import Client

from continuum import schedules
from continuum.client import connect
from continuum.settings import get_settings
from starters.console import console, fail, run

T = TypeVar("T")
schedules_app = typer.Typer(
    help="Temporal Schedules: the ERP→CRM sync and the daily report.", no_args_is_help=True
)
ScheduleId = Annotated[str, typer.Argument(help="e.g. erp-crm-sync or daily-report")]


def with_client(fn: Callable[[Client], Awaitable[T]]) -> T:
    async def go() -> T:
        return await fn(await connect())

    return run(go(), schedules.ScheduleError)


def print_applied(applied: list[schedules.Applied]) -> None:
    for item in applied:
        why = f" ({', '.join(item.differences)})" if item.differences else ""
        console.print(f"schedule {item.schedule_id}: {item.change.value}{why}", highlight=False)


@schedules_app.command("apply")
def apply() -> None:
    """Create or update the schedules from the configuration; unchanged ones stay as they are."""
    try:
        desired = schedules.desired_schedules(get_settings())
    except schedules.ScheduleError as err:
        raise fail(str(err)) from None
    print_applied(with_client(lambda c: schedules.apply(c, desired)))


@schedules_app.command("list")
def list_() -> None:
    """The schedules on the server, with their next and last run."""
    rows = with_client(schedules.list_schedules)
    table = Table()
    for column in ("schedule", "workflow", "state", "next run", "last run", "note"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            row.schedule_id,
            row.workflow,
            "paused" if row.paused else "active",
            f"{row.next_run:%Y-%m-%d %H:%M:%S %Z}" if row.next_run else "",
            f"{row.last_run:%Y-%m-%d %H:%M:%S %Z}" if row.last_run else "",
            row.note,
        )
    console.print(table)


@schedules_app.command("pause")
def pause(
    schedule_id: ScheduleId,
    note: Annotated[str, typer.Option(help="Why; shown in the Web UI.")] = "paused by hand",
) -> None:
    """Pause a schedule: no runs until it is resumed."""
    with_client(lambda c: schedules.pause(c, schedule_id, note))
    console.print(f"schedule {schedule_id} paused")


@schedules_app.command("resume")
def resume(
    schedule_id: ScheduleId,
    note: Annotated[str, typer.Option(help="Why; shown in the Web UI.")] = "resumed by hand",
) -> None:
    """Resume a paused schedule."""
    with_client(lambda c: schedules.resume(c, schedule_id, note))
    console.print(f"schedule {schedule_id} resumed")


@schedules_app.command("trigger")
def trigger(schedule_id: ScheduleId) -> None:
    """Run a schedule's action now (its overlap policy applies: a running sync is not doubled)."""
    with_client(lambda c: schedules.trigger(c, schedule_id))
    console.print(f"schedule {schedule_id} triggered")
