"""`continuum alerts list | show ID | ack ID --by NAME | silence ID --by NAME --for 2h --reason ...`

An operator's tool: it reads the Alert workflows (visibility, then each one's `state` query) and
sends their `acknowledge` and `silence` Updates, so it needs Temporal and the codec key like every
client. The Alert workflow decides who may acknowledge or silence; its refusal is printed as it
says it. Every failure is one line on standard error and exit code 1.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated, TypeVar

import typer
from rich.markup import escape
from rich.table import Table
from temporalio.client import Client

from continuum.alert_client import OPEN, AlertClient, AlertError, AlertRow, alert_id
from continuum.client import connect
from domain.alerts.contract import Acknowledgement, AlertState, AlertStatus, Silence
from domain.durations import DurationError, parse_duration, spoken
from starters.console import console, fail
from starters.console import run as run_command

T = TypeVar("T")
alerts_app = typer.Typer(
    help="Alerts: what fires, its timeline; acknowledge or silence it.", no_args_is_help=True
)


def with_alerts(fn: Callable[[AlertClient], Awaitable[T]]) -> T:
    async def go() -> T:
        client: Client = await connect()
        return await fn(AlertClient(client))

    return run_command(go(), AlertError)


def _when(value: datetime | None) -> str:
    return f"{value:%Y-%m-%d %H:%M:%S}" if value else ""


def _statuses(status: list[str] | None, all_: bool) -> list[AlertStatus] | None:
    if all_:
        return None
    if not status:
        return OPEN
    chosen: list[AlertStatus] = []
    by_name = {s.value.lower(): s for s in AlertStatus}
    for text in status:
        if text.strip().lower() not in by_name:
            raise fail(f"unknown status {text!r}: choose from {', '.join(by_name)}")
        chosen.append(by_name[text.strip().lower()])
    return chosen


def _table(rows: list[AlertRow], title: str) -> Table:
    table = Table(title=title)
    for column in ("alert", "status", "severity", "rule", "subject", "summary", "since", "level"):
        table.add_column(column)
    for row in rows:
        status = row.status.value if row.status else "?"
        if row.execution not in ("running", "completed"):
            status += f" ({row.execution})"  # e.g. terminated: its status is its last word
        state = row.state
        table.add_row(
            row.alert_id,
            status + (f" by {state.acknowledged_by}" if state and state.acknowledged_by else ""),
            row.severity,
            row.rule,
            escape(row.subject),
            escape(row.summary) if state else "[dim]state not readable now[/]",
            _when(row.since),
            str(state.level) if state else "",
        )
    return table


@alerts_app.command("list")
def list_alerts(
    status: Annotated[
        list[str] | None,
        typer.Option(help="Only alerts in this status (repeatable); default: the open ones."),
    ] = None,
    all_: Annotated[bool, typer.Option("--all", help="Resolved and dismissed ones too.")] = False,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="At most this many.")] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per alert.")] = False,
) -> None:
    """The alerts, critical and newest first."""
    statuses = _statuses(status, all_)
    rows = with_alerts(lambda alerts: alerts.list(statuses, limit=limit))
    if as_json:
        for row in rows:
            print(
                json.dumps(
                    {
                        "alert": row.alert_id,
                        "status": row.status.value if row.status else None,
                        "severity": row.severity,
                        "rule": row.rule,
                        "since": row.since.isoformat() if row.since else None,
                        "execution": row.execution,
                        "state": row.state.model_dump(mode="json") if row.state else None,
                    }
                )
            )
        return
    if not rows:
        console.print("no alerts" if statuses is None else "no alerts in that status")
        return
    title = "alerts" if statuses is None else ", ".join(s.value.lower() for s in statuses)
    console.print(_table(rows, f"{len(rows)} {title}"))


def print_state(alert: str, state: AlertState) -> None:
    given = state.input
    console.print(
        f"[bold]{alert}[/] {state.status.value} · {given.severity.value} · rule {given.rule}",
        highlight=False,
    )
    console.print(f"  {escape(given.summary)}", highlight=False)
    facts = {
        "subject": given.subject,
        "first observed": _when(state.first_observed),
        "fired": _when(state.fired_at),
        "acknowledged": f"{_when(state.acknowledged_at)} by {state.acknowledged_by}"
        if state.acknowledged_at
        else "",
        "silenced until": _when(state.silenced_until),
        "resolved": _when(state.resolved_at),
        "level notified": str(state.level) if state.level else "",
        "last seen": state.last_detail,
        "runbook": given.runbook,
    }
    for name, value in facts.items():
        if value:
            console.print(f"  {name}: {escape(value)}", highlight=False)
    console.print("  timeline:")
    for entry in state.timeline:
        who = " ".join(
            part
            for part in (
                f"level {entry.level}" if entry.level is not None else "",
                entry.receiver or "",
                f"by {entry.by}" if entry.by else "",
            )
            if part
        )
        line = f"    {_when(entry.at)} {entry.event}" + (f" {who}" if who else "")
        console.print(
            escape(line + (f" — {entry.detail}" if entry.detail else "")), highlight=False
        )


@alerts_app.command("show")
def show(
    alert: Annotated[str, typer.Argument(help="The alert id (from `continuum alerts list`).")],
    as_json: Annotated[bool, typer.Option("--json", help="The state as JSON.")] = False,
) -> None:
    """One alert: what fired, who was notified, who acknowledged, its whole timeline."""
    alert = _id(alert)
    state = with_alerts(lambda alerts: alerts.state(alert))
    if as_json:
        print(state.model_dump_json(indent=2))
        return
    print_state(alert, state)


def _id(text: str) -> str:
    """Checked before anything connects: a malformed id is a typo, not a Temporal question."""
    try:
        return alert_id(text)
    except AlertError as err:
        raise fail(str(err)) from None


def _person(by: str | None, what: str) -> str:
    if by is None or not by.strip():
        raise fail(f"say who {what}: --by NAME (your username in the approvals directory)")
    return by.strip()


@alerts_app.command("ack")
def ack(
    alert: Annotated[str, typer.Argument(help="The alert id (from `continuum alerts list`).")],
    by: Annotated[str | None, typer.Option(help="Who acknowledges (a username).")] = None,
    comment: Annotated[str, typer.Option(help="What you do about it (kept in its timeline).")] = "",
) -> None:
    """Acknowledge an alert: escalation stops; you are the one acting on it."""
    alert, who = _id(alert), _person(by, "acknowledges")
    state = with_alerts(
        lambda alerts: alerts.acknowledge(alert, Acknowledgement(by=who, comment=comment.strip()))
    )
    console.print(
        f"alert {alert} acknowledged by {state.acknowledged_by}; "
        f"it is {state.status.value.lower()}",
        highlight=False,
    )


@alerts_app.command("silence")
def silence(
    alert: Annotated[str, typer.Argument(help="The alert id (from `continuum alerts list`).")],
    by: Annotated[str | None, typer.Option(help="Who silences it (a username).")] = None,
    for_: Annotated[
        str | None, typer.Option("--for", help="For how long: 30m, 2h, 1h30m, 1d.")
    ] = None,
    reason: Annotated[str | None, typer.Option(help="Why (kept in its timeline).")] = None,
) -> None:
    """Silence an alert for a while: no notifications until then; it still resolves."""
    alert, who = _id(alert), _person(by, "silences it")
    if for_ is None:
        raise fail("say for how long: --for 2h (or 30m, 1h30m, 1d)")
    try:
        duration = parse_duration(for_)
    except DurationError as err:
        raise fail(f"--for: {err}") from None
    if reason is None or not reason.strip():
        raise fail("say why it is silenced: --reason '...' (kept in its timeline)")
    request = Silence(by=who, duration=duration, reason=reason.strip())
    state = with_alerts(lambda alerts: alerts.silence(alert, request))
    console.print(
        f"alert {alert} silenced by {who} for {spoken(duration)}"
        + (f", until {_when(state.silenced_until)} UTC" if state.silenced_until else ""),
        highlight=False,
    )
