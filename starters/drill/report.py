"""The continuity report on the console, and the timeline chart (PNG) of throughput and faults."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from rich.console import Console
from rich.table import Table

from domain.drill import (
    RECOVERY_GOAL,
    SUCCESS_TARGET,
    ContinuityReport,
    FaultKind,
    OrderFacts,
    per_bucket,
)
from domain.drill_detection import DETECT_WITHIN, DetectionReport

COLOURS = {
    FaultKind.ERP_ERRORS: "tab:orange",
    FaultKind.CRM_RATE_LIMIT: "tab:purple",
    FaultKind.ERP_OUTAGE: "tab:red",
    FaultKind.WORKER_KILL: "tab:brown",
    FaultKind.TEMPORAL_RESTART: "tab:gray",
}


def print_report(console: Console, report: ContinuityReport, files: Sequence[Path]) -> None:
    took = (report.finished_at - report.started_at).total_seconds()
    summary = Table(title="Continuity drill", show_header=False)
    summary.add_column()
    summary.add_column()
    kinds = ", ".join(f"{n} {k}" for k, n in report.by_kind.items())
    summary.add_row("orders", f"{report.orders} ({kinds})")
    summary.add_row("outcomes", ", ".join(f"{n} {s}" for s, n in report.by_status.items()))
    rate_style = "green" if report.success_rate >= SUCCESS_TARGET else "bold red"
    summary.add_row(
        "success rate",
        f"[{rate_style}]{report.success_rate:.1%}[/] ({report.as_expected} of "
        f"{report.valid_orders} valid orders as expected; target {SUCCESS_TARGET:.0%})",
    )
    summary.add_row(
        "retries absorbed",
        f"{report.retries_absorbed} activity retries, "
        f"{report.workflow_task_retries} workflow tasks retried",
    )
    summary.add_row(
        "compensations", f"{report.compensations} orders undone ({report.undo_steps} undo steps)"
    )
    if (sync := report.sync) is not None:
        summary.add_row("sync", sync.detail)
        if sync.ran:
            summary.add_row(
                "CRM mirrors ERP",
                f"{sync.crm_objects} CRM objects for {sync.erp_records} ERP records: "
                f"{sync.duplicates} duplicated, {sync.missing} missing, {sync.extra} unknown "
                f"to the ERP, {sync.disagreeing} deals disagreeing, {sync.quarantined} quarantined",
            )
            final = sync.passes[-1] if sync.passes else None
            if final is not None and final.drift is not None:
                drift = f"drift {final.drift} after the final pass"
                if final.drift_detail:
                    drift += f" ({final.drift_detail})"
                summary.add_row("reconciliation", f"{drift}; reported, not an invariant")
            met = ", ".join(sync.faults_met) or "none"
            summary.add_row("sync met", met)
    if (bought := report.purchases) is not None:
        kinds = ", ".join(f"{n} {k}" for k, n in bought.by_kind.items())
        summary.add_row("purchases", f"{bought.purchases} ({kinds})")
        summary.add_row(
            "purchase outcomes",
            ", ".join(f"{n} {s}" for s, n in bought.by_status.items())
            + f"; {bought.as_expected} of {bought.purchases} as expected",
        )
        summary.add_row("purchasing", bought.detail)
        records = ", ".join(f"{n} {table}" for table, n in bought.erp_records.items())
        accepted = bought.accepted_beyond_tolerance
        summary.add_row(
            "ERP purchasing rows",
            records
            + (
                f"; {accepted} lines paid beyond tolerance as a person accepted" if accepted else ""
            ),
        )
    summary.add_row("took", f"{took:.0f} s from the first order to the final sync's end")
    if report.phases:
        parts = ", ".join(f"{name} {seconds:.0f} s" for name, seconds in report.phases.items())
        summary.add_row("time per part", parts)
    console.print(summary)

    faults = Table(title="Faults injected")
    for column in ("fault", "from", "for", "evidence", "time to recover", "note"):
        faults.add_column(column)
    recoveries = {r.fault: r for r in report.recoveries}
    for window in report.faults:
        start = (window.began - report.started_at).total_seconds()
        span = (window.ended - window.began).total_seconds()
        recovered = ""
        if (r := recoveries.get(window.label)) is not None:
            if r.first_progress_seconds is None:
                recovered = f"no order in flight ({r.in_flight})"
            else:
                mark = "[green]✓[/]" if r.goal_met else "[yellow]goal missed[/]"
                recovered = (
                    f"{r.first_progress_seconds:.1f} s {mark} (all {r.resumed} of "
                    f"{r.in_flight} in flight moving within {r.all_resumed_seconds:.1f} s)"
                )
        evidence = (
            "restarted"
            if window.kind.is_restart and window.injected
            else f"{window.injected} requests failed"
        )
        faults.add_row(
            window.label, f"+{start:.0f} s", f"{span:.1f} s", evidence, recovered, window.note
        )
    console.print(faults)
    console.print(
        "time to recover: from the launch of the restarted process to the first progress of an "
        f"order that was in flight; goal ≤ {RECOVERY_GOAL.total_seconds():.0f} s "
        "(reported, not an invariant)"
    )

    if report.detection is not None:
        print_detection(console, report.detection)

    checks = Table(title="Invariants")
    checks.add_column("")
    checks.add_column("invariant")
    checks.add_column("violations")
    for result in report.invariants:
        mark = "[green]✓[/]" if result.held else "[bold red]✗[/]"
        detail = "" if result.held else f"{result.violations}: " + "; ".join(result.examples)
        checks.add_row(mark, result.invariant.value, detail)
    console.print(checks)
    for path in files:
        console.print(f"wrote {path}")
    verdict = "[bold green]PASSED[/]" if report.passed else "[bold red]FAILED[/]"
    console.print(f"continuity drill {verdict}")


def draw_timeline(
    path: Path, report: ContinuityReport, facts: Sequence[OrderFacts], bucket: float = 2.0
) -> Path:
    """Orders finished and steps done per second, with the fault windows shaded."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    start, end = report.started_at, report.finished_at
    finished = per_bucket([f.finished_at for f in facts if f.finished_at], start, end, bucket)
    steps = per_bucket([t for f in facts for t in f.steps], start, end, bucket)
    x = [i * bucket for i in range(len(steps))]
    fig, ax = plt.subplots(figsize=(12, 5), dpi=100)
    ax.plot(x, [n / bucket for n in steps], label="steps done / s", color="tab:blue")
    ax.plot(x, [n / bucket for n in finished], label="orders finished / s", color="tab:green")
    top = max([n / bucket for n in steps] + [1.0])
    for window in report.faults:
        began, ended = _offset(window.began, start), _offset(window.ended, start)
        colour = COLOURS[window.kind]
        if window.kind.is_restart:
            ax.axvline(began, color=colour, linestyle="--")
        ax.axvspan(began, max(ended, began + 0.5), color=colour, alpha=0.25)
        ax.text(began, top * 1.02, window.label, rotation=30, fontsize=8, color=colour)
    ax.set_xlabel("seconds since the drill started")
    ax.set_ylabel("per second")
    ax.set_ylim(0, top * 1.35)
    verdict = "passed" if report.passed else "FAILED"
    ax.set_title(
        f"Continuity drill: {report.orders} orders, success {report.success_rate:.1%}, {verdict}"
    )
    ax.legend(loc="upper right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def _offset(moment: datetime, start: datetime) -> float:
    return (moment - start).total_seconds()


def print_detection(console: Console, detection: DetectionReport) -> None:
    quiet = (detection.quiet_until - detection.quiet_from).total_seconds()
    table = Table(title=f"Detection (after {quiet:.0f} s without a stop)")
    for column in ("stop of business", "expected alert", "time to detect", "resolved", "also"):
        table.add_column(column)
    for stop in detection.stops:
        took = stop.seconds_to_detect
        detected = "[bold red]missed[/]" if took is None else f"{took:.1f} s"
        resolved = stop.seconds_to_resolve
        after = "[bold red]no[/]" if resolved is None else f"{resolved:.1f} s after the recovery"
        table.add_row(stop.label, stop.expected_rule, detected, after, "; ".join(stop.also))
    console.print(table)
    false = "; ".join(detection.false_alerts) or "none"
    console.print(f"false alerts: {false}")


def draw_detection(path: Path, detection: DetectionReport) -> Path:
    """Time to detect and to resolve per stop of business, against the 15-minute promise."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [s.label for s in detection.stops]
    detect = [s.seconds_to_detect or 0.0 for s in detection.stops]
    resolve = [s.seconds_to_resolve or 0.0 for s in detection.stops]
    fig, ax = plt.subplots(figsize=(9, 4), dpi=100)
    y = list(range(len(labels)))
    ax.barh([i + 0.2 for i in y], detect, height=0.4, label="time to detect (s)", color="tab:red")
    ax.barh([i - 0.2 for i in y], resolve, height=0.4, label="time to resolve after recovery (s)")
    ax.set_yticks(y, labels)
    ax.set_xlabel(f"seconds (promise: paged within {DETECT_WITHIN.total_seconds() / 60:.0f} min)")
    false = len(detection.false_alerts)
    ax.set_title(f"Detection: {len(labels)} stops of business, {false} false alert(s)")
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
