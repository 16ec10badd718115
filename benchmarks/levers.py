"""`python -m benchmarks.levers [--orders 150] [--passes 2] [--only pragmas,concurrency,processes]`:
what each tuning lever does to order throughput, measured within one run.

Each lever compares a baseline (the settings of `make run`: SQLite in WAL with
synchronous=normal, one worker, 100 activities and 50 workflow tasks at once) with one
change, each configuration on a fresh embedded stack with benchmark workers
(`benchmarks.worker`). A pass measures the baseline and the change, and the passes alternate
their order (A B, B A, ...) because the load of a shared machine drifts. A measurement is a
warm-up of 20 orders, then a burst of `--orders` auto-approved orders delivered by the carrier,
timed from the first start to the last completion on the server's clock.

- pragmas: SQLite's defaults (rollback journal, synchronous=full) instead of WAL/normal;
- concurrency: 10 activities and 5 workflow tasks at once, and 400 and 200;
- processes: two worker processes instead of one (the GIL binds one process to one core).

Appends a dated section with the machine to BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.harness import WAL, Bench, append_section, burst, machine, make_orders


@dataclass(frozen=True)
class Config:
    label: str
    workers: int = 1
    pragmas: tuple[str, ...] = WAL
    env: tuple[tuple[str, str], ...] = ()


BASELINE = Config("baseline (WAL + synchronous=normal, 1 worker, 100/50)")
LEVERS: dict[str, list[Config]] = {
    "pragmas": [Config("SQLite defaults (no pragmas)", pragmas=())],
    "concurrency": [
        Config(
            "10 activities / 5 workflow tasks",
            env=(
                ("WORKER_MAX_CONCURRENT_ACTIVITIES", "10"),
                ("WORKER_MAX_CONCURRENT_WORKFLOW_TASKS", "5"),
            ),
        ),
        Config(
            "400 activities / 200 workflow tasks",
            env=(
                ("WORKER_MAX_CONCURRENT_ACTIVITIES", "400"),
                ("WORKER_MAX_CONCURRENT_WORKFLOW_TASKS", "200"),
            ),
        ),
    ],
    "processes": [Config("2 worker processes", workers=2)],
}


@dataclass
class Result:
    orders: int = 0
    seconds: float = 0.0
    rates: list[float] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.orders / self.seconds if self.seconds else 0.0


async def measure(config: Config, orders: int, data_dir: Path, tag: str) -> tuple[int, float]:
    bench = Bench(
        data_dir, workers=config.workers, pragmas=config.pragmas, worker_env=dict(config.env)
    )
    client = await bench.start()
    try:
        await burst(client, make_orders(f"W{tag}", 20), twin=False)
        got = await burst(client, make_orders(f"B{tag}", orders), twin=False)
    finally:
        bench.stop()
    print(
        f"  {config.label}: {got.rate:.1f} orders/s ({got.completed}/{got.orders} completed)",
        flush=True,
    )
    return got.orders, got.seconds


async def main(orders: int, passes: int, only: list[str], base: Path, record: bool) -> None:
    where = machine()
    lines: list[str] = []
    for lever in only:
        configs = [BASELINE, *LEVERS[lever]]
        results: dict[Config, Result] = defaultdict(Result)
        print(f"lever {lever}", flush=True)
        for n in range(passes):
            for i, config in enumerate(configs if n % 2 == 0 else configs[::-1]):
                got, seconds = await measure(config, orders, base / f"{lever}-{n}-{i}", f"{n}{i}")
                results[config].orders += got
                results[config].seconds += seconds
                results[config].rates.append(got / seconds)
        baseline = results[BASELINE].rate
        for config in configs:
            r = results[config]
            each = ", ".join(f"{x:.1f}" for x in r.rates)
            vs = "" if config is BASELINE else f" = **{r.rate / baseline:.2f}× the baseline**"
            lines.append(f"| {lever} | {config.label} | {r.rate:.1f} ({each}){vs} |")
    body = (
        f"- each configuration on a fresh stack, {passes} passes in alternating order; per"
        f" measurement a warm-up of 20 orders, then a burst of {orders} auto-approved orders"
        " (no faults), carrier-delivered, first start to last completion on the server's clock\n\n"
        "| lever | configuration | orders/s (each pass) |\n| --- | --- | --- |\n"
        + "\n".join(lines)
        + "\n"
    )
    command = (
        f"python -m benchmarks.levers --orders {orders} --passes {passes} --only {','.join(only)}"
    )
    if record:
        append_section("Order throughput levers", command, where, body)
    else:
        print(body)


def cli() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.levers", description=__doc__)
    parser.add_argument("--orders", type=int, default=150, help="orders per burst")
    parser.add_argument("--passes", type=int, default=2)
    parser.add_argument("--only", default=",".join(LEVERS), help="levers, comma-separated")
    parser.add_argument("--data-dir", type=Path, default=None, help="default: a temp dir")
    parser.add_argument("--no-record", action="store_true", help="print, leave BENCHMARKS.md")
    args = parser.parse_args()
    only = [x.strip() for x in args.only.split(",") if x.strip()]
    if unknown := [x for x in only if x not in LEVERS]:
        parser.error(f"--only: unknown {', '.join(unknown)}; choose from {', '.join(LEVERS)}")
    if not 10 <= args.orders <= 5000 or not 1 <= args.passes <= 10:
        parser.error("--orders 10–5,000, --passes 1–10")
    record = not args.no_record
    if args.data_dir is not None:
        asyncio.run(main(args.orders, args.passes, only, args.data_dir.resolve(), record))
        return
    with tempfile.TemporaryDirectory(prefix="continuum-bench-") as tmp:
        asyncio.run(main(args.orders, args.passes, only, Path(tmp), record))


if __name__ == "__main__":
    cli()
