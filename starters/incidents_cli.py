"""`continuum incidents find | plan | apply | status JOB | audit`: the incident console.

`find` lists the processes that match business terms and why each is there; `plan` freezes that
list with what an action would do to each, signed, into a plan file (nothing changes);
`apply` verifies the plan and starts its repair job; `status` follows the job; `audit` shows
every plan, apply, refusal and per-item result. Every mistake is one line and a non-zero exit.
"""

from __future__ import annotations

import csv
import json
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from rich.markup import escape
from rich.table import Table

from continuum.client import connect
from continuum.incidents.apply import (
    JobSilent,
    RepairError,
    job_id,
    repair_progress,
    start_repair,
)
from continuum.incidents.find import FindError, Found, find
from continuum.incidents.key import IncidentKeyError, incident_key
from continuum.incidents.planner import make_plan
from continuum.incidents.plans import PlanError, load_plan, write_plan
from continuum.settings import get_settings
from domain.incidents.contract import RepairProgress
from domain.incidents.findings import Finding
from domain.incidents.planning import PlanRefused, parse_action
from domain.incidents.query import QueryError, parse_duration
from starters.console import console, fail
from starters.console import run as run_command
from store import Store, StoreError
from store.incidents import AuditEntry, IncidentAudit

T = TypeVar("T")
incidents_app = typer.Typer(
    help="Find stuck or failed processes, plan a repair (a dry run), apply it, audited.",
    no_args_is_help=True,
)

Where = Annotated[
    str,
    typer.Option(
        "--where",
        "-w",
        help='Business terms, e.g. "type=order retrying step=check_credit customer=C-100 '
        'since>30m". Fields: type, status, execution, customer, order, id, step, error, '
        "attempt, age, since, total, alert; flags: retrying, running, failed.",
    ),
]
Csv = Annotated[bool, typer.Option("--csv", help="CSV on standard output.")]
Json = Annotated[bool, typer.Option("--json", help="JSON on standard output.")]
Limit = Annotated[int, typer.Option(min=1, max=10_000, help="At most this many processes.")]


def _now() -> datetime:
    return datetime.now(UTC)


def _run(fn: Callable[[], Awaitable[T]]) -> T:
    async def go() -> T:
        return await fn()

    return run_command(
        go(), QueryError, FindError, PlanError, PlanRefused, RepairError, IncidentKeyError
    )


def open_audit() -> IncidentAudit:
    """The incident audit in Continuum's store; a store that cannot be opened ends the command."""
    settings = get_settings()
    try:
        return IncidentAudit(Store(settings.store_url, legacy=settings.legacy_store_files).open())
    except StoreError as err:
        raise fail(str(err)) from None


def _key(create: bool) -> bytes:
    env = {**os.environ}
    env.setdefault("CONTINUUM_DATA_DIR", str(get_settings().data_dir))
    try:
        return incident_key(env, create=create)
    except IncidentKeyError as err:
        raise fail(str(err)) from None


def _one_format(as_csv: bool, as_json: bool) -> None:
    if as_csv and as_json:
        raise fail("choose one of --csv and --json")


def _ago(moment: datetime | None, now: datetime) -> str:
    if moment is None:
        return ""
    seconds = int((now - moment).total_seconds())
    if seconds < 0:
        return f"in {_span(-seconds)}"
    return f"{_span(seconds)} ago"


def _span(seconds: int) -> str:
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    if seconds < 2 * 86400:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 86400}d"


FINDING_COLUMNS = [
    "process",
    "type",
    "status",
    "state since",
    "step",
    "attempt",
    "last failure",
    "next retry",
    "customer",
]


def _finding_row(f: Finding, now: datetime) -> list[str]:
    step = f.step
    return [
        f.workflow_id,
        f.workflow_type,
        f.status,
        _ago(f.state_since, now),
        (step.name + (" (paused)" if step.paused else "")) if step else "",
        str(step.attempt) if step else "",
        (step.last_failure or "") if step else "",
        _ago(step.next_retry, now) if step else "",
        f.customer_id or "",
    ]


def _csv(header: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    out = csv.writer(sys.stdout)
    out.writerow(header)
    out.writerows(rows)


def _findings_table(title: str, findings: Sequence[Finding], now: datetime) -> Table:
    table = Table(title=title, title_justify="left")
    for column in FINDING_COLUMNS:
        table.add_column(column, overflow="fold")
    for f in findings:
        table.add_row(*(escape(cell) for cell in _finding_row(f, now)))
    return table


def _search(where: str, limit: int) -> tuple[Found, datetime]:
    now = _now()

    async def go() -> Found:
        return await find(await connect(), where, now, limit=limit)

    return _run(go), now


@incidents_app.command("find")
def find_command(
    where: Where, limit: Limit = 500, as_csv: Csv = False, as_json: Json = False
) -> None:
    """List the processes that match, each with why it is there (step, attempt, last failure,
    next retry). Reads only."""
    _one_format(as_csv, as_json)
    found, now = _search(where, limit)
    if as_json:
        print(json.dumps([f.model_dump(mode="json") for f in found.findings], indent=2))
    elif as_csv:
        _csv(
            [c.replace(" ", "_") for c in FINDING_COLUMNS] + ["run_id", "failure_type"],
            [
                [
                    *_finding_row(f, now),
                    f.run_id,
                    (f.step.failure_type or "") if f.step else "",
                ]
                for f in found.findings
            ],
        )
    else:
        title = f"{len(found.findings)} process(es) · {found.search.query or 'all'}"
        console.print(_findings_table(title, found.findings, now))
    if found.truncated:
        console.print(
            f"[yellow]more than {limit} processes match: only the newest {limit} were looked at;"
            " narrow --where[/]",
            highlight=False,
        )


def _params(pairs: Sequence[str]) -> dict[str, str]:
    params: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise fail(f"--param takes NAME=VALUE, not {pair!r}")
        params[name.strip()] = value.strip()
    return params


@incidents_app.command("plan")
def plan_command(
    action: Annotated[
        str,
        typer.Argument(
            help="retry, pause, unpause, retry-options, cancel, reset, signal, terminate, redrive"
        ),
    ],
    where: Where,
    by: Annotated[str, typer.Option("--by", help="Who plans it.")],
    reason: Annotated[str, typer.Option(help="Why.")],
    ticket: Annotated[str, typer.Option(help="The ticket or incident reference.")],
    param: Annotated[
        list[str] | None,
        typer.Option("--param", "-p", help="NAME=VALUE for the action, e.g. signal=delivered."),
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="The plan file; default plan-<plan id>.json here.")
    ] = None,
    valid_for: Annotated[str, typer.Option(help="How long the plan may be applied.")] = "1h",
    canary: Annotated[int, typer.Option(help="The first N go first; a failure stops it.")] = 1,
    rate: Annotated[float, typer.Option(help="Processes per second after the canary.")] = 5.0,
    limit: Limit = 500,
    as_json: Json = False,
) -> None:
    """Write a signed plan: the exact processes, what ACTION would do to each, who, why, the
    ticket. Nothing changes until `continuum incidents apply PLAN`."""
    try:
        chosen = parse_action(action)
        validity = parse_duration(valid_for)
    except (PlanRefused, QueryError) as err:
        raise fail(str(err)) from None
    params = _params(param or [])
    key = _key(create=True)
    audit = open_audit()
    found, now = _search(where, limit)
    try:
        planned = make_plan(
            found,
            chosen,
            params=params,
            operator=by,
            reason=reason,
            ticket=ticket,
            now=now,
            key=key,
            valid_for=validity,
            canary=canary,
            rate_per_second=rate,
        )
    except PlanRefused as err:
        raise fail(str(err)) from None
    plan = planned.plan
    path = out or Path(f"plan-{plan.plan_id}.json")
    try:
        write_plan(plan, path)
    except OSError as err:
        raise fail(f"cannot write the plan to {path}: {err.strerror}") from None
    try:
        audit.planned(plan)
    except StoreError as err:
        path.unlink(missing_ok=True)  # an unaudited plan is no plan
        raise fail(str(err)) from None
    if as_json:
        print(path.read_text(), end="")
        return
    table = Table(
        title=f"plan {plan.plan_id}: {plan.action.value} on {len(plan.items)} process(es)"
        f" · by {plan.operator} · {plan.ticket}",
        title_justify="left",
    )
    for column in ("process", "status", "step", "attempt", "what will happen"):
        table.add_column(column, overflow="fold")
    for item in plan.items:
        t = item.target
        table.add_row(
            t.workflow_id,
            t.status,
            t.step or "",
            str(t.attempt or ""),
            escape(item.what),
        )
    console.print(table)
    for finding, why in planned.left_out:
        console.print(f"  left out {finding.workflow_id}: {why}", highlight=False)
    ends = plan.created_at + plan.valid_for
    console.print(
        f"Nothing changed. Plan written to {path} (signed, valid until {ends:%H:%M:%S} UTC).\n"
        f"Apply it with: continuum incidents apply {path} --by NAME",
        highlight=False,
    )


def _plan_id_of(path: Path) -> str:
    """The plan id a refused file claims, for the audit (it may be a lie: it is only a label)."""
    try:
        claimed = json.loads(path.read_bytes()).get("plan_id")
    except (OSError, ValueError, AttributeError):
        return "(not a plan)"
    return claimed[:64] if isinstance(claimed, str) and claimed else "(not a plan)"


@incidents_app.command("apply")
def apply_command(
    plan_file: Annotated[Path, typer.Argument(help="The plan file `plan` wrote.")],
    by: Annotated[str, typer.Option("--by", help="Who applies it.")],
) -> None:
    """Verify the plan (signature, validity) and start its repair job on exactly its processes."""
    if not by.strip():
        raise fail("say who applies the plan (--by)")
    key = _key(create=False)
    audit = open_audit()
    now = _now()
    try:
        plan = load_plan(plan_file, key, now)
    except PlanError as err:
        audit.refused(_plan_id_of(plan_file), by, str(err), at=now)
        raise fail(str(err)) from None

    async def go() -> str:
        return await start_repair(await connect(), plan, by, audit, key=key, now=now)

    job = _run(go)
    console.print(
        f"applying plan {plan.plan_id} ({plan.action.value} on {len(plan.items)} process(es),"
        f" canary {plan.canary}) as job {job}\nFollow it: continuum incidents status {job}",
        highlight=False,
    )


def _progress_table(progress: RepairProgress) -> Table:
    canary = {None: "pending", True: "passed", False: "failed"}[progress.canary_passed]
    title = (
        f"job {job_id(progress.plan_id)}: {progress.action.value}, {progress.done}/{progress.total}"
        f" done, canary {canary}" + (f", stopped: {progress.stopped}" if progress.stopped else "")
    )
    table = Table(title=title, title_justify="left")
    for column in ("process", "outcome", "detail", "at"):
        table.add_column(column, overflow="fold")
    for r in progress.results:
        table.add_row(r.workflow_id, r.outcome.value, escape(r.detail), f"{r.at:%H:%M:%S}")
    return table


@incidents_app.command("status")
def status_command(
    job: Annotated[str, typer.Argument(help="The job (repair-<plan id>) or its plan id.")],
    timeout: Annotated[str, typer.Option(help="How long to wait for the job to answer.")] = "10s",
    as_json: Json = False,
) -> None:
    """Where a repair job stands: per process fixed, not fixed, skipped or failed, and why.
    When the job does not answer (no ops worker), what the audit holds of it."""
    try:
        wait = parse_duration(timeout)
    except QueryError as err:
        raise fail(f"--timeout: {err}") from None

    async def go() -> RepairProgress | str:
        try:
            return await repair_progress(await connect(), job, rpc_timeout=wait)
        except JobSilent as silent:
            return str(silent)

    answer = _run(go)
    if isinstance(answer, str):
        entries = open_audit().entries(plan_id=job_id(job).removeprefix("repair-"))
        if as_json:
            print(json.dumps([_audit_json(e) for e in entries], indent=2, default=str))
            return
        console.print(f"[yellow]{escape(answer)}[/]; from the audit:", highlight=False)
        console.print(_audit_table(entries))
        return
    if as_json:
        print(answer.model_dump_json(indent=2))
        return
    console.print(_progress_table(answer))
    counts: dict[str, int] = {}
    for r in answer.results:
        counts[r.outcome.value] = counts.get(r.outcome.value, 0) + 1
    console.print(", ".join(f"{n} {o}" for o, n in counts.items()) or "no results yet")


AUDIT_COLUMNS = [
    "at",
    "plan",
    "event",
    "action",
    "who",
    "ticket",
    "items",
    "process",
    "outcome",
    "why / detail",
]


def _audit_row(e: AuditEntry) -> list[str]:
    return [
        e.at.isoformat(timespec="seconds"),
        e.plan_id,
        e.event,
        e.action or "",
        e.actor,
        e.ticket or "",
        "" if e.items is None else str(e.items),
        e.workflow_id or "",
        e.outcome or "",
        " — ".join(x for x in (e.reason, e.detail) if x),
    ]


@incidents_app.command("audit")
def audit_command(
    plan: Annotated[str | None, typer.Option("--plan", help="Only this plan.")] = None,
    since: Annotated[str | None, typer.Option(help="Only the last DURATION, e.g. 1d.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=100_000)] = 200,
    as_csv: Csv = False,
    as_json: Json = False,
) -> None:
    """Every plan, apply, refusal and per-process result: who, why, ticket, when, what became
    of each."""
    _one_format(as_csv, as_json)
    try:
        start = _now() - parse_duration(since) if since else None
    except QueryError as err:
        raise fail(f"--since: {err}") from None
    try:
        entries = open_audit().entries(plan_id=plan, since=start, limit=limit)
    except StoreError as err:
        raise fail(str(err)) from None
    if as_json:
        print(json.dumps([_audit_json(e) for e in entries], indent=2, default=str))
    elif as_csv:
        _csv([c.split(" ")[0] for c in AUDIT_COLUMNS], [_audit_row(e) for e in entries])
    else:
        console.print(_audit_table(entries))


def _audit_json(entry: AuditEntry) -> dict[str, object]:
    return {k: getattr(entry, k) for k in AuditEntry.__dataclass_fields__}


def _audit_table(entries: Sequence[AuditEntry]) -> Table:
    table = Table(title=f"incident audit · {len(entries)} entries", title_justify="left")
    for column in AUDIT_COLUMNS:
        table.add_column(column, overflow="fold")
    for e in entries:
        table.add_row(*(escape(cell) for cell in _audit_row(e)))
    return table
