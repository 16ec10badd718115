"""Writes a daily report as files: an HTML page with PNG charts, CSV files and the JSON model.

Everything goes under `<reports dir>/<YYYY-MM-DD>/`; a second run for the same day replaces
the files one by one (each written to a temporary name first, so none is ever half written).
Charts use matplotlib's object API on the Agg canvas: no display, no pyplot global state,
safe in a worker thread.
"""

from __future__ import annotations

import csv
import html
import io
import os
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from domain.reports import DailyReport, Outcome, ReportFiles, outcome

Row = Sequence[object]


def _write(path: Path, data: bytes) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_bytes(data)
    os.replace(temporary, path)


def _csv(header: Row, rows: Iterable[Row]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode()


def _png(fig: Figure) -> bytes:
    FigureCanvasAgg(fig)
    out = io.BytesIO()
    fig.savefig(out, format="png", dpi=100)
    return out.getvalue()


def _bar(title: str, labels: Sequence[str], values: Sequence[float], ylabel: str) -> bytes:
    fig = Figure(figsize=(7, 3.5), layout="constrained")
    ax = fig.add_subplot()
    ax.bar(labels, values, color="#3b6ea5")
    ax.set_title(title)
    ax.set_ylabel(ylabel)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.tick_params(axis="x", labelrotation=30)
    return _png(fig)


def _stock(report: DailyReport) -> bytes:
    items = report.erp.figures.inventory if report.erp.figures else []
    fig = Figure(figsize=(7, 3.5), layout="constrained")
    ax = fig.add_subplot()
    skus = [i.sku for i in items]
    ax.bar(skus, [i.available for i in items], label="available", color="#3b6ea5")
    ax.bar(
        skus,
        [i.reserved for i in items],
        bottom=[i.available for i in items],
        label="reserved",
        color="#e0a030",
    )
    ax.set_title("Inventory now")
    ax.legend()
    ax.tick_params(axis="x", labelrotation=30)
    return _png(fig)


def summary_rows(report: DailyReport) -> list[Row]:
    """(section, figure, value): every headline figure; blank where unavailable."""
    k, w = report.kpis, report.window
    rows: list[Row] = [
        ("report", "day", w.day.isoformat()),
        ("report", "time_zone", w.timezone),
        ("report", "window_start_utc", w.start.isoformat()),
        ("report", "window_end_utc", w.end.isoformat()),
        ("report", "as_of_utc", w.as_of.isoformat()),
        ("report", "empty", report.empty),
    ]
    for name in (
        "started",
        "closed",
        "completed",
        "compensated",
        "rejected",
        "cancelled",
        "failed",
        "success_rate",
        "target",
        "p50_seconds",
        "p95_seconds",
        "awaiting_approval",
        "approvals_overdue",
    ):
        value = getattr(k, name)
        rows.append(("orders", name, "" if value is None else value))
    rows.append(("orders", "meets_target", "" if k.meets_target is None else k.meets_target))
    erp = report.erp.figures
    if erp is None:
        rows.append(("erp", "unavailable", report.erp.note))
    else:
        rows += [("erp", "sales_orders", erp.orders)]
        rows += [("erp", f"sales_orders_{s}", n) for s, n in sorted(erp.orders_by_status.items())]
        rows += [("erp", f"revenue_{c}", v) for c, v in sorted(erp.revenue.items())]
        rows += [
            ("erp", "customers", erp.customers),
            ("erp", "blocked_customers", erp.blocked_customers),
        ]
        rows += [("erp", "skus", len(erp.inventory))]
    crm = report.crm
    if not crm.available:
        rows.append(("crm", "unavailable", crm.note))
    else:
        rows += [("crm", "contacts", crm.contacts), ("crm", "deals", crm.deals)]
        rows += [("crm", "deals_created", crm.deals_created)]
        rows += [("crm", f"deals_{s}", n) for s, n in sorted(crm.deals_by_stage.items())]
    sync = report.sync
    if not sync.available:
        rows.append(("sync", "unavailable", sync.note))
    else:
        rows.append(("sync", "quarantine", "" if sync.quarantine is None else sync.quarantine))
        for feed in sync.feeds:
            lag = "" if feed.lag_seconds is None else feed.lag_seconds
            rows.append(("sync", f"lag_seconds_{feed.feed}", lag))
    rows += _alert_rows(report)
    rows += _purchase_rows(report)
    return rows


_PURCHASE_FIGURES = (
    "started",
    "closed",
    "invoices",
    "first_pass",
    "first_pass_rate",
    "exceptions_opened",
    "exceptions_open",
    "open_age_p50_seconds",
    "open_age_max_seconds",
    "exceptions_decided",
    "decide_p50_seconds",
    "decide_p95_seconds",
    "completed",
    "cycle_p50_seconds",
    "cycle_p95_seconds",
    "payments",
)


def _purchase_rows(report: DailyReport) -> list[Row]:
    p = report.purchases
    if p is None:
        return []  # a report made before the procure-to-pay section
    if not p.available:
        return [("purchases", "unavailable", p.note)]
    rows: list[Row] = [
        ("purchases", name, "" if (value := getattr(p, name)) is None else value)
        for name in _PURCHASE_FIGURES
    ]
    rows += [("purchases", f"closed_{s}", n) for s, n in p.closed_by_status.items()]
    rows += [("purchases", f"open_{s}", n) for s, n in p.open_by_status.items()]
    rows += [("purchases", f"exceptions_{r}", n) for r, n in p.exceptions_by_reason.items()]
    rows += [("purchases", f"paid_{c}", v) for c, v in p.paid.items()]
    rows += [("purchases", f"dpo_days_{c}", v) for c, v in p.dpo_days.items()]
    ledger = p.ledger
    if ledger is not None and not ledger.available:
        rows.append(("purchase_ledger", "unavailable", ledger.note))
    elif ledger is not None:
        for line in ledger.lines:
            c = line.currency
            rows += [
                ("purchase_ledger", f"orders_{c}", line.orders),
                ("purchase_ledger", f"ordered_{c}", line.total),
                ("purchase_ledger", f"received_{c}", line.received),
                ("purchase_ledger", f"invoiced_{c}", line.invoiced),
                ("purchase_ledger", f"paid_{c}", line.paid),
                ("purchase_ledger", f"received_not_invoiced_{c}", line.received_not_invoiced),
            ]
    return rows


def _alert_rows(report: DailyReport) -> list[Row]:
    alerts = report.alerts
    if alerts is None:
        return []  # a report made before the alerts section
    if not alerts.available:
        return [("alerts", "unavailable", alerts.note)]
    rows: list[Row] = [
        ("alerts", name, "" if (value := getattr(alerts, name)) is None else value)
        for name in (
            "fired",
            "acknowledged",
            "resolved",
            "ack_p50_seconds",
            "ack_p95_seconds",
            "resolve_p50_seconds",
            "resolve_p95_seconds",
        )
    ]
    rows += [("alerts", f"fired_{s}", n) for s, n in sorted(alerts.fired_by_severity.items())]
    return rows


def _iso(moment: datetime | None) -> str:
    return moment.isoformat() if moment else ""


def _tables(report: DailyReport) -> dict[str, bytes]:
    files = {"summary.csv": _csv(("section", "figure", "value"), summary_rows(report))}
    files["orders.csv"] = _csv(
        ("order_id", "outcome", "order_status", "execution_status", "started_at", "closed_at",
         "duration_seconds"),
        (
            (r.order_id, outcome(r).value, r.order_status or "", r.execution_status,
             r.started_at.isoformat(), r.closed_at.isoformat(), f"{r.duration_seconds:.3f}")
            for r in report.orders
        ),
    )  # fmt: skip
    erp = report.erp.figures
    if erp is not None:
        files["sales_by_sku.csv"] = _csv(
            ("sku", "units", "revenue"), ((s.sku, s.units, s.revenue) for s in erp.by_sku)
        )
        files["inventory.csv"] = _csv(
            ("sku", "name", "on_hand", "reserved", "available"),
            ((i.sku, i.name, i.on_hand, i.reserved, i.available) for i in erp.inventory),
        )
    if report.alerts is not None and report.alerts.available:
        files["alerts.csv"] = _csv(
            ("alert_id", "rule", "severity", "subject", "source", "status", "fired_at",
             "acknowledged_at", "acknowledged_by", "resolved_at"),
            (
                (a.alert_id, a.rule, a.severity, a.subject, a.source, a.status,
                 _iso(a.fired_at), _iso(a.acknowledged_at), a.acknowledged_by or "",
                 _iso(a.resolved_at))
                for a in report.alerts.alerts
            ),
        )  # fmt: skip
    purchases = report.purchases
    if purchases is not None and purchases.available:
        files["purchase_exceptions.csv"] = _csv(
            (
                "requisition_id",
                "round",
                "opened_at",
                "closed_at",
                "outcome",
                "decided_by",
                "age_seconds",
                "lines",
                "kinds",
                "reasons",
            ),
            (
                (
                    x.requisition_id,
                    x.round_no,
                    _iso(x.opened_at),
                    _iso(x.closed_at),
                    x.outcome,
                    x.decided_by or "",
                    f"{x.age_seconds(report.window.as_of):.0f}",
                    " ".join(str(n) for n in x.lines),
                    " ".join(k.value for k in x.kinds),
                    " | ".join(x.reasons),
                )
                for x in purchases.exceptions
            ),
        )
        files["purchase_cycles.csv"] = _csv(
            ("requisition_id", "started_at", "paid_at", "cycle_seconds"),
            (
                (c.requisition_id, _iso(c.started_at), _iso(c.paid_at), f"{c.seconds:.0f}")
                for c in purchases.cycles
            ),
        )
        if purchases.ledger is not None and purchases.ledger.available:
            files["purchase_ledger.csv"] = _csv(
                (
                    "currency",
                    "orders",
                    "ordered",
                    "received",
                    "invoiced",
                    "paid",
                    "received_not_invoiced",
                ),
                (
                    (
                        x.currency,
                        x.orders,
                        x.total,
                        x.received,
                        x.invoiced,
                        x.paid,
                        x.received_not_invoiced,
                    )
                    for x in purchases.ledger.lines
                ),
            )
    files["sync.csv"] = _csv(
        ("feed", "newest_change", "synced_through", "lag_seconds"),
        (
            (f.feed, f.newest_change or "", f.synced_through or "",
             "" if f.lag_seconds is None else f.lag_seconds)
            for f in report.sync.feeds
        ),
    )  # fmt: skip
    return files


def _charts(report: DailyReport) -> dict[str, bytes]:
    charts: dict[str, bytes] = {}
    k = report.kpis
    if k.closed:
        labels = [o.value for o in Outcome]
        values = [getattr(k, o.value) for o in Outcome]
        charts["outcomes.png"] = _bar("Orders closed, by outcome", labels, values, "orders")
    durations = [r.duration_seconds for r in report.orders if outcome(r) is Outcome.COMPLETED]
    if durations:
        fig = Figure(figsize=(7, 3.5), layout="constrained")
        ax = fig.add_subplot()
        ax.hist(durations, bins=min(20, max(5, len(durations))), color="#3b6ea5")
        ax.set_title("Completed orders: duration")
        ax.set_xlabel("seconds")
        charts["durations.png"] = _png(fig)
    erp = report.erp.figures
    if erp is not None and erp.by_sku:
        skus = [s.sku for s in erp.by_sku]
        charts["sales_by_sku.png"] = _bar(
            "Units sold, by SKU", skus, [s.units for s in erp.by_sku], "units"
        )
    if erp is not None and erp.inventory:
        charts["inventory.png"] = _stock(report)
    charts.update(_purchase_charts(report))
    return charts


def _purchase_charts(report: DailyReport) -> dict[str, bytes]:
    p = report.purchases
    if p is None or not p.available:
        return {}
    charts: dict[str, bytes] = {}
    if p.closed:
        by = p.closed_by_status
        charts["purchase_outcomes.png"] = _bar(
            "Purchases closed, by status", list(by), list(by.values()), "purchases"
        )
    if p.exceptions_by_reason:
        reasons = p.exceptions_by_reason
        charts["purchase_exceptions_by_reason.png"] = _bar(
            "Exception reviews opened, by reason", list(reasons), list(reasons.values()), "reviews"
        )
    if p.open_age_buckets:
        ages = p.open_age_buckets
        charts["purchase_exception_age.png"] = _bar(
            "Exceptions waiting on a person, by age", list(ages), list(ages.values()), "reviews"
        )
    if p.cycles:
        fig = Figure(figsize=(7, 3.5), layout="constrained")
        ax = fig.add_subplot()
        days = [c.seconds / 86400 for c in p.cycles]
        ax.hist(days, bins=min(20, max(5, len(days))), color="#3b6ea5")
        ax.set_title("Completed purchases: requisition → payment")
        ax.set_xlabel("days")
        charts["purchase_cycle_times.png"] = _png(fig)
    return charts


def _page(report: DailyReport, charts: Sequence[str], tables: Sequence[str]) -> bytes:
    e = html.escape
    rows = "\n".join(
        f"<tr><td>{e(str(s))}</td><td>{e(str(f))}</td><td>{e(str(v))}</td></tr>"
        for s, f, v in summary_rows(report)
    )
    k = report.kpis
    if k.success_rate is None:
        verdict = "no order closed on this day"
    else:
        mark = "meets" if k.meets_target else "misses"
        verdict = f"success rate {k.success_rate:.1%}, {mark} the {k.target:.0%} target"
    alert_note = report.alerts.note if report.alerts else ""
    notes = [
        n for n in (k.note, report.erp.note, report.crm.note, report.sync.note, alert_note) if n
    ]
    if report.purchases is not None:
        ledger = report.purchases.ledger
        notes += [n for n in (report.purchases.note, ledger.note if ledger else "") if n]
    empty = (
        "<p class='empty'>No orders, no sales and no purchases on this day: an empty report.</p>"
        if report.empty
        else ""
    )
    images = "\n".join(f"<figure><img src='{e(c)}' alt='{e(c)}'></figure>" for c in charts)
    links = " · ".join(f"<a href='{e(t)}'>{e(t)}</a>" for t in tables)
    day = report.window.day.isoformat()
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Continuum daily report {day}</title>
<style>body{{font-family:sans-serif;max-width:60em;margin:2em auto}}
td{{padding:.1em .8em}} .empty{{font-weight:bold}} img{{max-width:100%}}</style></head>
<body><h1>Daily report {day} ({e(report.window.timezone)})</h1>
<p>{e(verdict)}</p>{empty}
{_alerts_section(report)}
{_purchases_section(report)}
{"".join(f"<p>Note: {e(n)}</p>" for n in notes)}
{images}
<h2>Figures</h2><table><tr><th>section</th><th>figure</th><th>value</th></tr>
{rows}</table>
<p>CSV: {links}</p>
</body></html>
"""
    return page.encode()


def _minutes(seconds: float | None) -> str:
    return "—" if seconds is None else f"{seconds / 60:.1f} min"


def _alerts_section(report: DailyReport) -> str:
    """Fired, acknowledged, resolved; time to acknowledge and to resolve (p50/p95)."""
    alerts = report.alerts
    if alerts is None or not alerts.available:
        return ""
    e = html.escape
    head = (
        f"<h2>Alerts</h2><p>{alerts.fired} fired, {alerts.acknowledged} acknowledged, "
        f"{alerts.resolved} resolved.</p>"
    )
    if not alerts.alerts:
        return head
    times = (
        "<table class='alerts'><tr><th></th><th>p50</th><th>p95</th></tr>"
        f"<tr><td>time to acknowledge</td><td>{_minutes(alerts.ack_p50_seconds)}</td>"
        f"<td>{_minutes(alerts.ack_p95_seconds)}</td></tr>"
        f"<tr><td>time to resolve</td><td>{_minutes(alerts.resolve_p50_seconds)}</td>"
        f"<td>{_minutes(alerts.resolve_p95_seconds)}</td></tr></table>"
    )
    rows = "".join(
        f"<tr><td>{e(a.severity)}</td><td>{e(a.rule)}</td><td>{e(a.subject)}</td>"
        f"<td>{e(a.status)}</td><td>{e(a.acknowledged_by or '')}</td></tr>"
        for a in alerts.alerts
    )
    listing = (
        "<table class='alerts'><tr><th>severity</th><th>rule</th><th>subject</th>"
        f"<th>status</th><th>acknowledged by</th></tr>{rows}</table>"
    )
    return head + times + listing


def _days(seconds: float | None) -> str:
    return "—" if seconds is None else f"{seconds / 86400:.1f} days"


def _purchases_section(report: DailyReport) -> str:
    """First-pass match rate, exceptions by reason and age, cycle time, DPO; each figure's
    source under it."""
    p = report.purchases
    if p is None or not p.available:
        return ""
    e = html.escape
    rate = "—" if p.first_pass_rate is None else f"{p.first_pass_rate:.1%}"
    dpo = ", ".join(f"{d:.1f} days ({c})" for c, d in p.dpo_days.items()) or "—"
    paid = ", ".join(f"{v:,.2f} {c}" for c, v in p.paid.items()) or "nothing"
    reasons = ", ".join(f"{r} {n}" for r, n in p.exceptions_by_reason.items()) or "none"
    rows = [
        ("purchases started / closed", f"{p.started} / {p.closed}"),
        ("first-pass match rate", f"{rate} of {p.invoices} invoice(s)"),
        ("exception reviews opened", f"{p.exceptions_opened} ({reasons})"),
        (
            "exceptions waiting on a person now",
            f"{p.exceptions_open}; age p50 {_days(p.open_age_p50_seconds)}, "
            f"oldest {_days(p.open_age_max_seconds)}",
        ),
        (
            "exceptions decided",
            f"{p.exceptions_decided}; time to decide p50 {_minutes(p.decide_p50_seconds)}, "
            f"p95 {_minutes(p.decide_p95_seconds)}",
        ),
        (
            "cycle time requisition → payment",
            f"{p.completed} completed; p50 {_days(p.cycle_p50_seconds)}, "
            f"p95 {_days(p.cycle_p95_seconds)}",
        ),
        ("days payable outstanding (paid invoices)", f"{dpo}; {p.payments} payment(s), {paid}"),
    ]
    table = "".join(f"<tr><td>{e(a)}</td><td>{e(b)}</td></tr>" for a, b in rows)
    ledger = ""
    if p.ledger is not None and p.ledger.available and p.ledger.lines:
        ledger = "<h3>ERP purchase ledger (now)</h3><table class='ledger'>" + (
            "<tr><th>currency</th><th>orders</th><th>ordered</th><th>received</th>"
            "<th>invoiced</th><th>paid</th><th>received, not invoiced</th></tr>"
        )
        ledger += "".join(
            f"<tr><td>{e(x.currency)}</td><td>{x.orders}</td><td>{x.total}</td>"
            f"<td>{x.received}</td><td>{x.invoiced}</td><td>{x.paid}</td>"
            f"<td>{x.received_not_invoiced}</td></tr>"
            for x in p.ledger.lines
        )
        ledger += "</table>"
    sources = "".join(f"<li>{e(f)}: {e(s)}</li>" for f, s in p.sources.items())
    return (
        f"<h2>Procure-to-pay</h2><table class='purchases'>{table}</table>{ledger}"
        f"<h3>Where each figure comes from</h3><ul class='sources'>{sources}</ul>"
    )


def write_report(report: DailyReport, reports_dir: Path) -> ReportFiles:
    directory = reports_dir / report.window.day.isoformat()
    directory.mkdir(parents=True, exist_ok=True)
    tables, charts = _tables(report), _charts(report)
    files = {**tables, **charts, "report.json": report.model_dump_json(indent=2).encode()}
    files["index.html"] = _page(report, list(charts), list(tables))
    for name, data in files.items():
        _write(directory / name, data)
    # A chart or table of an earlier run for this day that has no data now must not linger.
    for old in directory.iterdir():
        if old.suffix in (".png", ".csv") and old.name not in files:
            old.unlink()
    return ReportFiles(directory=str(directory.resolve()), files=sorted(files))
