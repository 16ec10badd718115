"""`python -m benchmarks.memory [--orders 2000] [--steps 4] [--cache 10000,500]`: the worker's
resident memory (RSS) with orders parked waiting for approval.

For each workflow cache size (WORKER_MAX_CACHED_WORKFLOWS) it starts its own embedded stack
with the ordinary worker (`python -m workers`), then parks orders above the approval threshold
in steps (each is an OrderToCash waiting on its Approval child: two workflows) and after each
step reads the worker's RSS (psutil) and its sticky cache size (the SDK's
`temporal_sticky_cache_size` on the worker's /metrics). A parked workflow stays in the cache
until the cache is full, so RSS grows with min(parked workflows, cache size). Appends a dated
section to BENCHMARKS.md. Not a test: figures on a shared machine vary from run to run.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import tempfile
import time
from pathlib import Path

import httpx
from temporalio.client import Client

from benchmarks.harness import append_section, machine, make_orders, rss_mb, start_all
from benchmarks.sync import free_ports
from continuum.client import connect
from continuum.stack import Stack

QUERY = "WorkflowType = 'Approval' AND ExecutionStatus = 'Running'"


def cache_size(metrics_url: str) -> int | None:
    try:
        text = httpx.get(metrics_url, timeout=5).text
    except httpx.HTTPError:
        return None
    found = re.findall(r"^temporal_sticky_cache_size\S*\s+([0-9.e+]+)", text, re.MULTILINE)
    return int(sum(float(v) for v in found)) if found else None


async def parked(client: Client) -> int:
    return (await client.count_workflows(QUERY)).count


async def one_cache(cache: int, sizes: list[int], data_dir: Path) -> list[str]:
    stack = Stack(data_dir, free_ports(), worker_env={"WORKER_MAX_CACHED_WORKFLOWS": str(cache)})
    print(f"cache {cache}: starting the stack in {data_dir} …", flush=True)
    stack.start()
    rows: list[str] = []
    try:
        client = await connect(stack.temporal_address, stack.data_converter())
        metrics = f"http://127.0.0.1:{stack.ports.worker_metrics}/metrics"
        pid = stack.processes["worker"].pid
        batch = make_orders(f"M{cache}", sizes[-1], parked=True)
        done = 0
        for size in sizes:
            began = time.monotonic()
            await start_all(client, batch[done:size], twin=False, parallel=50)
            # Until every order waits on its Approval child.
            while True:
                if await parked(client) >= size:
                    break
                await asyncio.sleep(1)
            done = size
            await asyncio.sleep(3)  # let the last workflow tasks finish
            mb, cached = rss_mb([pid]), cache_size(metrics)
            took = time.monotonic() - began
            row = (
                f"| {cache:,} | {size:,} | {mb:,.0f} | {cached if cached is not None else '?'}"
                f" | {took:.0f} |"
            )
            print(row, flush=True)
            rows.append(row)
    finally:
        stack.stop()
    return rows


async def main(orders: int, steps: int, caches: list[int], base: Path, record: bool = True) -> None:
    where = machine()
    sizes = [0, *(orders * (n + 1) // steps for n in range(steps))]
    rows: list[str] = []
    for cache in caches:
        rows += await one_cache(cache, sizes, base / f"cache-{cache}")
    cache_list = ",".join(str(c) for c in caches)
    body = (
        f"- {orders:,} orders above the approval threshold (5,940 EUR) parked in {steps} steps;"
        " each is an OrderToCash waiting on its Approval child, so two workflows per order."
        " The ordinary worker (`python -m workers`), default tuning but the cache size; a new"
        " stack per cache size. RSS of the worker process (psutil) after each step; cached ="
        " the SDK's `temporal_sticky_cache_size` (workflows in the worker's cache)\n\n"
        "| cache size | parked orders | worker RSS (MB) | cached workflows | step took (s) |\n"
        "| --- | --- | --- | --- | --- |\n" + "\n".join(rows) + "\n"
    )
    if not record:
        print(body)
        return
    append_section(
        "Worker memory with parked orders",
        f"python -m benchmarks.memory --orders {orders} --steps {steps} --cache {cache_list}",
        where,
        body,
    )


def cli() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.memory", description=__doc__)
    parser.add_argument("--orders", type=int, default=2000, help="parked orders at the end")
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument(
        "--cache", default="10000,500", help="WORKER_MAX_CACHED_WORKFLOWS values, comma-separated"
    )
    parser.add_argument("--data-dir", type=Path, default=None, help="default: a temp dir")
    parser.add_argument("--no-record", action="store_true", help="print, leave BENCHMARKS.md")
    args = parser.parse_args()
    caches = [int(c) for c in args.cache.split(",") if c.strip()]
    if not 1 <= args.orders <= 50_000 or not 1 <= args.steps <= 20 or not caches:
        parser.error("--orders 1–50,000, --steps 1–20, at least one --cache value")
    if args.data_dir is not None:
        base = args.data_dir.resolve()
        asyncio.run(main(args.orders, args.steps, caches, base, not args.no_record))
        return
    with tempfile.TemporaryDirectory(prefix="continuum-bench-") as tmp:
        asyncio.run(main(args.orders, args.steps, caches, Path(tmp), not args.no_record))


if __name__ == "__main__":
    cli()
