"""`continuum release check | patches | status | ramp | promote | rollback | pin`: a release from
the replay of live histories to ramp, promote or rollback (README, "Releasing a new version").

`check` and `patches` replay histories with the working tree's workflows, which the CLI may not
import: they run `python -m workers.release` and read its report. Every failure is one line and
a non-zero exit; `check` exits 1 when any history does not replay.
"""

from __future__ import annotations

import subprocess
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from rich.table import Table

from continuum.client import connect
from continuum.release import backup as backups
from continuum.release.behaviours import BEHAVIOURS
from continuum.release.check import CheckReport
from continuum.release.deployment import Deployment, DeploymentState
from continuum.release.patches import PatchList
from continuum.release.versioning import VersioningError
from continuum.settings import get_settings
from continuum.supervisor import python_module
from starters.console import console, fail, run

T = TypeVar("T")
release_app = typer.Typer(
    help="Safe releases: replay live histories, ramp / promote / roll back a build, patches.",
    no_args_is_help=True,
)
DeploymentOption = Annotated[
    str | None,
    typer.Option("--deployment", help="The worker deployment; default CONTINUUM_DEPLOYMENT_NAME."),
]
Running = Annotated[
    int, typer.Option(min=1, help="Running processes replayed per workflow type, at most.")
]
Closed = Annotated[
    int, typer.Option(min=0, help="Recently closed processes replayed per workflow type.")
]
ClosedDays = Annotated[float, typer.Option(min=0, help="How recent 'recently closed' is.")]


def _replay(command: str, *args: str) -> str:
    """Runs `python -m workers.release COMMAND` and returns its JSON report."""
    done = subprocess.run(
        python_module("workers.release", command, *args),
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines()
        raise fail(lines[-1] if lines else f"workers.release {command} exited {done.returncode}")
    return done.stdout.strip().splitlines()[-1]


def _sample(running: int, closed: int, closed_days: float) -> list[str]:
    return ["--running", str(running), "--closed", str(closed), "--closed-days", str(closed_days)]


@release_app.command("check")
def check(
    running: Running = 1000,
    closed: Closed = 20,
    closed_days: ClosedDays = 7.0,
) -> None:
    """Replay the cluster's running processes (and a sample of closed ones) against this code."""
    report = CheckReport.model_validate_json(
        _replay("check", *_sample(running, closed, closed_days))
    )
    table = Table(title=f"replayed against the working tree (namespace {report.namespace})")
    for column in ("process", "running", "replayed running", "replayed closed", "failures"):
        table.add_column(column)
    for t in report.types:
        limited = f" (limit {running})" if t.limited else ""
        table.add_row(
            t.workflow_type,
            str(t.running),
            f"{t.replayed_running}{limited}",
            str(t.replayed_closed),
            str(len(t.failures)) if t.failures else "",
        )
    console.print(table)
    for t in report.types:
        for f in t.failures:
            state = "running" if f.running else "closed"
            console.print(
                f"✗ {t.workflow_type} {f.workflow_id} ({state}): {f.words}", highlight=False
            )
    for workflow_type, count in sorted(report.unknown.items()):
        console.print(
            f"✗ {count} running {workflow_type} processes: the working tree has no such workflow",
            highlight=False,
        )
    if not report.ok:
        console.print(f"[bold red]{report.failures} histories would break with this code[/]")
        raise typer.Exit(1)
    console.print("[green]every history replays on this code[/]")


@release_app.command("patches")
def patches(running: Running = 1000) -> None:
    """Each workflow.patched id: how many running processes took the old path, and whether it can
    move to deprecate_patch or be removed."""
    found = PatchList.model_validate_json(_replay("patches", *_sample(running, 0, 0))).patches
    table = Table()
    for column in ("patch", "in code", "old path", "marked", "unknown", "next step"):
        table.add_column(column)
    for p in found:
        deprecated = f" (+{p.deprecated_marker} deprecated)" if p.deprecated_marker else ""
        marked = f"{p.new_path}{deprecated}"
        table.add_row(
            p.patch_id,
            p.in_code or "removed",
            str(p.old_path),
            marked,
            str(p.unknown) if p.unknown else "",
            p.verdict,
        )
    console.print(table)
    for p in found:
        if p.where:
            console.print(f"{p.patch_id}: {', '.join(p.where)}", highlight=False)


def _deployment(name: str | None) -> str:
    name = name or get_settings().deployment_name
    if not name:
        raise fail("no worker deployment: set CONTINUUM_DEPLOYMENT_NAME or pass --deployment")
    return name


def _with(name: str | None, fn: Callable[[Deployment], Awaitable[T]]) -> T:
    deployment = _deployment(name)

    async def go() -> T:
        return await fn(Deployment(await connect(), deployment))

    return run(go(), VersioningError)


def _since(row_time: object) -> str:
    return f"{row_time:%Y-%m-%d %H:%M}" if row_time else ""


def show(state: DeploymentState) -> None:
    ramp = f", {state.ramping} ramping at {state.ramp_percent:g} %" if state.ramping else ""
    console.print(
        f"deployment [bold]{state.name}[/]: current {state.current or 'unversioned'}{ramp}",
        highlight=False,
    )
    table = Table()
    for column in ("build", "state", "new processes", "pinned", "auto-upgrade", "since", "workers"):
        table.add_column(column)
    for v in state.versions:
        share = (
            f"{100 - state.ramp_percent:g} %"
            if v.status == "current"
            else f"{v.ramp_percent:g} %"
            if v.status == "ramping"
            else "0 %"
        )
        since = v.current_since or v.ramping_since or v.created
        workers = "may stop" if v.can_stop else "keep running"
        table.add_row(
            v.build_id, v.status, share, str(v.pinned), str(v.auto_upgrade), _since(since), workers
        )
    console.print(table)
    if state.unversioned_running:
        console.print(
            f"{state.unversioned_running} running processes started before versioning;"
            " they move to the current build at their next step"
        )


@release_app.command("status")
def status(deployment: DeploymentOption = None) -> None:
    """Which build is current, which ramps at what share, how many processes are pinned to each,
    which builds' workers may stop; and each process's versioning behaviour with its reason."""
    show(_with(deployment, lambda d: d.state()))
    console.print("\nversioning behaviour per process:")
    for workflow_type, declared in BEHAVIOURS.items():
        console.print(f"  {workflow_type}: {declared.behaviour} — {declared.why}", highlight=False)


@release_app.command("ramp")
def ramp(
    build_id: Annotated[str, typer.Argument(help="The new build, its workers already running.")],
    percent: Annotated[float, typer.Option(help="Share of new processes sent to it.")] = 10.0,
    deployment: DeploymentOption = None,
) -> None:
    """Send a share of new processes (and of auto-upgrade ones, at their next step) to a build."""
    show(_with(deployment, lambda d: d.ramp(build_id, percent)))


@release_app.command("promote")
def promote(
    build_id: Annotated[str | None, typer.Argument(help="Default: the ramping build.")] = None,
    deployment: DeploymentOption = None,
) -> None:
    """Make a build current: every new process starts there."""
    show(_with(deployment, lambda d: d.promote(build_id)))


@release_app.command("rollback")
def rollback(
    to: Annotated[
        str | None, typer.Option(help="Make this build current (default: the one before).")
    ] = None,
    deployment: DeploymentOption = None,
) -> None:
    """Stop a ramp, or make the previous build current again. Processes pinned to the build
    rolled back from stay there: keep its workers until `status` says they may stop."""
    done, state = _with(deployment, lambda d: d.rollback(to))
    console.print(done, highlight=False)
    show(state)


@release_app.command("pin")
def pin(
    build_id: Annotated[str, typer.Argument(help="The build the processes run on now.")],
    workflow_type: Annotated[
        list[str] | None, typer.Option("--type", help="Only these process types (repeatable).")
    ] = None,
    deployment: DeploymentOption = None,
) -> None:
    """Pin the running auto-upgrade processes of a build to it (before ramping a build whose
    change to them cannot be patched); they finish there."""
    pinned = _with(deployment, lambda d: d.pin(build_id, workflow_type or ()))
    console.print(f"pinned {pinned} running processes to {build_id}")


TemporalDb = Annotated[
    Path | None,
    typer.Option(
        help="The embedded Temporal's SQLite file; default <data dir>/temporal.db when it exists."
    ),
]


def _temporal_db(given: Path | None) -> Path | None:
    if given is not None:
        return given
    embedded = get_settings().data_dir / "temporal.db"
    return embedded if embedded.exists() else None


def backup(
    to: Annotated[Path, typer.Option(help="Where the backup directory is made.")] = Path("backups"),
    temporal_db: TemporalDb = None,
) -> None:
    """Copy Continuum's store and the embedded Temporal's file, consistently, while they run."""
    settings = get_settings()
    source = _temporal_db(temporal_db)
    try:
        made = backups.backup(settings.store_url, source, to, datetime.now(UTC))
    except backups.BackupError as err:
        raise fail(str(err)) from None
    manifest = backups.read_backup(made)
    console.print(f"backup written to [bold]{made}[/]", highlight=False)
    facts = manifest.store_facts
    console.print(
        f"  store {manifest.store} (schema {facts.revision}): {sum(facts.rows.values())} rows,"
        f" {len(facts.watermarks)} watermarks, {sum(facts.receipts.values())} receipts,"
        f" {facts.open_quarantine} open quarantine entries",
        highlight=False,
    )
    if manifest.temporal_facts is not None:
        running = sum(manifest.temporal_facts.running.values())
        console.print(f"  Temporal {source}: {running} running processes", highlight=False)
    else:
        console.print("  Temporal is not embedded here: back it up with its own tools")
    console.print(
        "  the codec keys are not in the backup: a restore needs them from where they are kept"
    )


def restore(
    source: Annotated[Path, typer.Argument(help="A directory `continuum backup` wrote.")],
    temporal_db: TemporalDb = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Check the backup, change nothing.")
    ] = False,
) -> None:
    """Put a backup back (the stack stopped), then check the restored state against it."""
    settings = get_settings()
    target = temporal_db or settings.data_dir / "temporal.db"
    try:
        restored = backups.restore(
            source, settings.store_url, target, datetime.now(UTC), dry_run=dry_run
        )
    except backups.BackupError as err:
        raise fail(str(err)) from None
    for check in restored.checks:
        mark = "[green]✓[/]" if check.ok else "[red]✗[/]"
        console.print(f"{mark} {check.name}: {check.detail}", highlight=False)
    for path in restored.moved_aside:
        console.print(f"kept the replaced file as {path}", highlight=False)
    if not restored.ok:
        raise fail("the restored state does not match the backup (see above)")
    if dry_run:
        console.print("the backup is complete and readable; nothing was changed")
    else:
        console.print(
            "restored. Next: start the stack, then `continuum release check` and"
            " `continuum release status`"
        )
