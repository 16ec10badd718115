"""Schedules and the daily report on the real stack (dev server, reference ERP and CRM, worker).

The stack's worker writes its reports under this module's temporary directory.
"""

from __future__ import annotations

import asyncio
import csv
import json
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from temporalio.client import Client
from temporalio.common import WorkflowIDReusePolicy

from continuum import schedules
from continuum.client import connect
from continuum.order_client import OrderClient
from continuum.settings import ORDERS_TASK_QUEUE, Settings
from continuum.stack import Stack
from domain.orders.models import OrderStatus
from domain.reports import DailyReport, previous_day, zone
from domain.sync.contract import SCHEDULED_WORKFLOW as SCHEDULED_SYNC
from domain.sync.contract import WORKFLOW_ID as SYNC_WORKFLOW_ID
from domain.sync.contract import WORKFLOW_NAME as SYNC_WORKFLOW
from domain.sync.models import ScheduledSyncResult, SyncInput, SyncResult
from starters.report_cli import run_report
from store.sync import SyncStore
from tests import samples
from tests.integration.conftest import free_ports, set_faults
from tests.integration.test_order_to_cash_stack import drive_to_end

TZ = "Europe/Berlin"


@pytest.fixture(scope="module")
def reports_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    data = tmp_path_factory.mktemp("reports-stack")
    stack = Stack(data, free_ports(), worker_env={"REPORTS_DIR": str(data / "reports")})
    with stack:
        yield stack


@pytest.fixture
async def client(reports_stack: Stack) -> AsyncIterator[Client]:
    yield await connect(reports_stack.temporal_address, reports_stack.data_converter())


def settings(**values: object) -> Settings:
    return Settings(**{"CONTINUUM_TASK_QUEUE": ORDERS_TASK_QUEUE, **values})  # type: ignore[arg-type]


async def eventually(check: Callable[[], Awaitable[bool]], within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} within {within}s")
        await asyncio.sleep(0.2)


# --- schedules ---------------------------------------------------------------------------------


async def test_applied_twice_each_schedule_exists_once(client: Client) -> None:
    desired = schedules.desired_schedules(settings(REPORT_TIMEZONE=TZ))
    first = await schedules.apply(client, desired)
    again = await schedules.apply(client, desired)
    assert {a.schedule_id: a.change for a in first} == {
        schedules.WATCHDOG_SCHEDULE: schedules.Change.CREATED,
        schedules.SYNC_SCHEDULE: schedules.Change.CREATED,
        schedules.REPORT_SCHEDULE: schedules.Change.CREATED,
    }
    assert [a.change for a in again] == [schedules.Change.UNCHANGED] * 3

    async def listed_once() -> bool:
        ids = [row.schedule_id for row in await schedules.list_schedules(client)]
        wanted = [schedules.REPORT_SCHEDULE, schedules.SYNC_SCHEDULE, schedules.WATCHDOG_SCHEDULE]
        return sorted(ids) == sorted(wanted)

    await eventually(listed_once, 30, "listing of exactly the three schedules")
    watchdog = (await client.get_schedule_handle(schedules.WATCHDOG_SCHEDULE).describe()).schedule
    assert [i.every.total_seconds() for i in watchdog.spec.intervals] == [60]
    assert getattr(watchdog.action, "task_queue", None) == "continuum-ops"
    report = (await client.get_schedule_handle(schedules.REPORT_SCHEDULE).describe()).schedule
    assert report.spec.time_zone_name == TZ
    sync = (await client.get_schedule_handle(schedules.SYNC_SCHEDULE).describe()).schedule
    assert sync.policy.overlap.name == "SKIP"
    assert [i.every.total_seconds() for i in sync.spec.intervals] == [300]


async def test_a_changed_setting_updates_only_that_schedule_and_keeps_a_pause(
    client: Client,
) -> None:
    await schedules.apply(client, schedules.desired_schedules(settings(REPORT_TIMEZONE=TZ)))
    await schedules.pause(client, schedules.SYNC_SCHEDULE, "ERP maintenance")
    changed = await schedules.apply(
        client, schedules.desired_schedules(settings(REPORT_TIMEZONE=TZ, SYNC_EVERY_MINUTES=7))
    )
    by_id = {a.schedule_id: a for a in changed}
    assert by_id[schedules.SYNC_SCHEDULE].change is schedules.Change.UPDATED
    assert by_id[schedules.SYNC_SCHEDULE].differences == ("intervals", "catch-up window")
    assert by_id[schedules.REPORT_SCHEDULE].change is schedules.Change.UNCHANGED
    assert by_id[schedules.WATCHDOG_SCHEDULE].change is schedules.Change.UNCHANGED
    sync = await client.get_schedule_handle(schedules.SYNC_SCHEDULE).describe()
    assert sync.schedule.state.paused and sync.schedule.state.note == "ERP maintenance"
    assert [i.every.total_seconds() for i in sync.schedule.spec.intervals] == [420]

    await schedules.resume(client, schedules.SYNC_SCHEDULE, "maintenance over")
    sync = await client.get_schedule_handle(schedules.SYNC_SCHEDULE).describe()
    assert not sync.schedule.state.paused
    # Back to the default: the next apply puts the five minutes back.
    await schedules.apply(client, schedules.desired_schedules(settings(REPORT_TIMEZONE=TZ)))


async def test_unknown_schedule_is_named(client: Client) -> None:
    with pytest.raises(schedules.ScheduleError, match="unknown schedule 'nope'"):
        await schedules.pause(client, "nope", "x")
    with pytest.raises(schedules.ScheduleError, match="unknown schedule 'nope'"):
        await schedules.trigger(client, "nope")


async def test_triggering_the_report_schedule_writes_yesterdays_report(
    client: Client, reports_stack: Stack
) -> None:
    await schedules.apply(client, schedules.desired_schedules(settings(REPORT_TIMEZONE=TZ)))
    day = previous_day(datetime.now(zone(TZ)), TZ)
    index = reports_stack.data_dir / "reports" / day.isoformat() / "index.html"
    await schedules.trigger(client, schedules.REPORT_SCHEDULE)

    async def written() -> bool:
        return index.exists()

    await eventually(written, 60, f"report at {index}")
    assert f"Daily report {day.isoformat()}" in index.read_text()


def test_a_bad_timezone_is_named() -> None:
    with pytest.raises(schedules.ScheduleError, match="REPORT_TIMEZONE: unknown time zone"):
        schedules.desired_schedules(settings(REPORT_TIMEZONE="Mars/Olympus"))


# --- the report --------------------------------------------------------------------------------


def crm_count(stack: Stack, sql: str) -> int:
    with sqlite3.connect(stack.data_dir / "crm.db") as db:
        found: int = db.execute(sql).fetchone()[0]
        return found


def summary(directory: Path) -> dict[str, str]:
    with (directory / "summary.csv").open() as f:
        return {f"{r['section']}.{r['figure']}": r["value"] for r in csv.DictReader(f)}


async def test_the_report_of_a_seeded_day_has_its_figures(
    client: Client, reports_stack: Stack
) -> None:
    orders = OrderClient(client, ORDERS_TASK_QUEUE)
    good = [samples.order(quantity=2, unit_price="10.00") for _ in range(3)]
    declined = samples.order(quantity=1, unit_price="5.00", reference="tok_declined")
    invalid = samples.order(quantity=0)
    for order in [*good, declined, invalid]:
        await orders.start(order)
    results = await drive_to_end(orders, [o.order_id for o in [*good, declined]])
    assert [r.status for r in results] == [OrderStatus.COMPLETED] * 3 + [OrderStatus.COMPENSATED]
    with pytest.raises(Exception, match="invalid order"):
        await orders.result(invalid.order_id)

    # One sync pass, so that the report can tell the sync's lag and quarantine.
    await schedules.apply(client, schedules.desired_schedules(settings(REPORT_TIMEZONE=TZ)))
    await schedules.trigger(client, schedules.SYNC_SCHEDULE)

    async def synced() -> bool:
        done = await client.count_workflows(
            f"WorkflowType = '{SYNC_WORKFLOW}' AND ExecutionStatus = 'Completed'"
        )
        return done.count > 0

    await eventually(synced, 120, "a completed sync")

    today = datetime.now(zone(TZ)).date()
    result = await run_report(client, today, TZ, ORDERS_TASK_QUEUE)
    directory = Path(result.directory)
    assert directory == reports_stack.data_dir / "reports" / today.isoformat()
    k = result.kpis
    assert (k.started, k.closed, k.completed, k.compensated, k.failed) == (5, 5, 3, 1, 1)
    assert k.success_rate == pytest.approx(0.8) and k.target == 0.98
    assert k.p50_seconds is not None and k.p95_seconds is not None
    assert 0 < k.p50_seconds <= k.p95_seconds
    assert not result.empty

    report = DailyReport.model_validate_json((directory / "report.json").read_text())
    erp = report.erp.figures
    assert erp is not None
    assert erp.orders == 4 and erp.orders_by_status == {"invoiced": 3, "cancelled": 1}
    assert erp.revenue == {"EUR": Decimal("60.00")}
    assert [(s.sku, s.units) for s in erp.by_sku] == [("SKU-001", 6)]
    assert erp.inventory and erp.customers > 0
    assert report.crm.available and report.crm.deals_created == 4
    assert report.crm.deals_by_stage == {"contractsent": 0, "closedwon": 3, "closedlost": 1}
    assert report.crm.contacts == crm_count(
        reports_stack,
        "SELECT count(*) FROM objects WHERE object_type = 'contacts' AND archived_at IS NULL",
    )
    assert sorted(r.order_id for r in report.orders) == sorted(
        o.order_id for o in [*good, declined, invalid]
    )

    store = SyncStore(reports_stack.data_dir / "continuum.db")
    try:
        quarantined = store.quarantine_size()
    finally:
        store.close()
    assert report.sync.available and report.sync.quarantine == quarantined
    assert {f.feed: f.lag_seconds for f in report.sync.feeds} == {"orders": 0, "customers": 0}

    figures = summary(directory)
    assert figures["orders.completed"] == "3" and figures["orders.failed"] == "1"
    assert figures["orders.success_rate"] == "0.8" and figures["orders.meets_target"] == "False"
    assert figures["erp.revenue_EUR"] == "60.00"
    with (directory / "orders.csv").open() as f:
        outcomes = sorted(r["outcome"] for r in csv.DictReader(f))
    assert outcomes == ["compensated", "completed", "completed", "completed", "failed"]
    for chart in ("outcomes.png", "durations.png", "sales_by_sku.png", "inventory.png"):
        assert (directory / chart).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"src='{chart}'" in (directory / "index.html").read_text()


async def test_a_day_without_data_gives_an_empty_report(
    client: Client, reports_stack: Stack
) -> None:
    day = date(2001, 1, 1)
    result = await run_report(client, day, TZ, ORDERS_TASK_QUEUE)
    assert result.empty and result.kpis.started == 0 and result.kpis.success_rate is None
    directory = reports_stack.data_dir / "reports" / "2001-01-01"
    assert summary(directory)["report.empty"] == "True"
    assert "an empty report" in (directory / "index.html").read_text()
    # Stock is "now" whatever the day; no chart of orders or sales that did not happen.
    assert [p.name for p in directory.glob("*.png")] == ["inventory.png"]
    report = json.loads((directory / "report.json").read_text())
    assert report["erp"]["figures"]["orders"] == 0


# --- the CLI -----------------------------------------------------------------------------------


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "starters", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
        timeout=60,
    )


def test_report_with_a_bad_date_names_it() -> None:
    answer = cli("report", "--date", "not-a-date")
    assert answer.returncode == 1
    assert "not a date: 'not-a-date' (expected YYYY-MM-DD)" in answer.stderr
    assert "Traceback" not in answer.stderr


def test_cli_schedules_and_report(reports_stack: Stack) -> None:
    env = reports_stack.client_env()
    applied = cli("schedules", "apply", env=env)
    assert applied.returncode == 0, applied.stderr
    assert "schedule erp-crm-sync:" in applied.stdout
    assert cli("schedules", "pause", "daily-report", "--note", "audit", env=env).returncode == 0
    listed = cli("schedules", "list", env=env)
    assert listed.returncode == 0, listed.stderr
    row = next(line for line in listed.stdout.splitlines() if "daily-report" in line)
    assert "paused" in row and "audit" in row
    assert cli("schedules", "resume", "daily-report", env=env).returncode == 0
    unknown = cli("schedules", "trigger", "nope", env=env)
    assert unknown.returncode == 1 and "unknown schedule 'nope'" in unknown.stderr
    made = cli("report", "--date", "2001-01-02", "--wait", env=env)
    assert made.returncode == 0, made.stderr
    assert "report 2001-01-02: no orders and no sales" in made.stdout


async def test_a_sync_tick_skips_while_any_other_sync_runs(
    client: Client, reports_stack: Stack
) -> None:
    """Issue 13 (5): the schedule's tick and a manual sync never run side by side."""
    await schedules.apply(client, schedules.desired_schedules(settings(REPORT_TIMEZONE=TZ)))
    since = datetime.now(UTC).isoformat()
    # The ERP answers nothing but 503, so the manual sync keeps retrying its first page.
    set_faults(reports_stack, "erp", error_rate=1.0, error_statuses=[503])
    try:
        manual = await client.start_workflow(
            SYNC_WORKFLOW,
            SyncInput(),
            id=SYNC_WORKFLOW_ID,
            task_queue=ORDERS_TASK_QUEUE,
            result_type=SyncResult,
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        )
        await schedules.trigger(client, schedules.SYNC_SCHEDULE)
        ticks = f"WorkflowType = '{SCHEDULED_SYNC}' AND StartTime > '{since}'"

        async def tick_done() -> bool:
            done = await client.count_workflows(f"{ticks} AND ExecutionStatus = 'Completed'")
            return done.count == 1

        await eventually(tick_done, 60, "a finished sync tick")
        tick = [t async for t in client.list_workflows(ticks)].pop()
        outcome = await client.get_workflow_handle(
            tick.id, run_id=tick.run_id, result_type=ScheduledSyncResult
        ).result()
        assert outcome.result is None and outcome.skipped is not None
        assert SYNC_WORKFLOW_ID in outcome.skipped
        running = await client.count_workflows(
            f"WorkflowType = '{SYNC_WORKFLOW}' AND ExecutionStatus = 'Running'"
        )
        assert running.count == 1
    finally:
        set_faults(reports_stack, "erp")
    # The ERP is back: the one sync goes on and finishes.
    assert (await manual.result()).totals.runs == 1
