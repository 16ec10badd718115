"""`python -m benchmarks.watchdog [--parked 10000] [--steps 0,1000,10000] [--runs 5]`: what one
watchdog evaluation costs as parked orders pile up.

It starts the embedded stack without its business worker (dev server on SQLite with WAL, the
reference ERP and CRM), runs the ops queue in this process (the Watchdog, the Alerts, their
activities; the shipped rules of continuum/defaults/watchdog.toml), and parks orders in steps:
OrderToCash executions with their search attributes (OrderStatus AwaitingDelivery, a tenth
AwaitingApproval; StateSince spread over the last five days) on a queue nobody serves, so they
stay running and cost the server nothing but their rows. After each step it runs the watchdog
`--runs` times and reads from each run's history how long it took and how long each rule's
evaluation took, and how many processes the `retrying` rules described. Appends a dated section to
BENCHMARKS.md. Not a test: figures on a shared machine vary from run to run.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from temporalio.client import Client
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.worker import Worker

from activities.watchdog.watchdog import WatchdogActivities, WatchdogContext
from benchmarks.harness import append_section, machine
from benchmarks.sync import free_ports
from connectors.reference_erp import ReferenceErpClient
from continuum import search_attributes as sa
from continuum.client import connect
from continuum.settings import Settings
from continuum.stack import Stack
from continuum.watchdog import load_watchdog_config
from domain.orders.contract import WORKFLOW_NAME as ORDERS
from domain.watchdog.contract import TASK_QUEUE, WatchdogReport, WatchdogRun
from domain.watchdog.findings import retrying_candidates_query
from domain.watchdog.rules import RetryingRule
from store import Store
from store.sync import SyncStore
from workers.alerts import ALERT_WORKFLOWS, alert_activities
from workflows.watchdog.watchdog import Watchdog

PARKED_QUEUE = "benchmark-parked-orders"
SHOWN = ("order-delivery-late", "order-step-retrying", "business-worker-down", "order-success-rate")


async def park(client: Client, count: int, start: int) -> None:
    """`count` running orders, parked as a day's business leaves them."""
    now = datetime.now(UTC)
    gate = asyncio.Semaphore(20)
    rng = random.Random(start)

    async def one(n: int) -> None:
        status = "AwaitingApproval" if n % 10 == 0 else "AwaitingDelivery"
        since = now - timedelta(minutes=rng.uniform(1, 5 * 24 * 60))
        async with gate:
            await client.start_workflow(
                ORDERS,
                id=f"order-PARKED-{n:06d}",
                task_queue=PARKED_QUEUE,
                search_attributes=TypedSearchAttributes(
                    [
                        SearchAttributePair(sa.ORDER_ID, f"PARKED-{n:06d}"),
                        SearchAttributePair(sa.ORDER_STATUS, status),
                        SearchAttributePair(sa.STATE_SINCE, since),
                    ]
                ),
            )

    await asyncio.gather(*(one(n) for n in range(start, start + count)))


async def visible(client: Client, count: int, within: float = 600) -> None:
    """Visibility lists them all (it trails the starts by a moment)."""
    query = f"WorkflowType = '{ORDERS}' AND ExecutionStatus = 'Running'"
    for _ in range(int(within)):
        if (await client.count_workflows(query)).count >= count:
            return
        await asyncio.sleep(1)
    raise TimeoutError(f"visibility did not list {count} parked orders within {within:.0f} s")


async def one_run(
    client: Client, only: list[str] | None = None
) -> tuple[float, dict[str, float], WatchdogReport]:
    """The run's duration and each rule's evaluation (scheduled to completed), server clock."""
    handle = await client.start_workflow(
        Watchdog.run,
        WatchdogRun(rules=only or []),
        id=f"watchdog-bench-{uuid.uuid4().hex[:8]}",
        task_queue=TASK_QUEUE,
    )
    report = await handle.result()
    scheduled: dict[int, tuple[str, datetime]] = {}
    rules: dict[str, float] = {}
    first = last = None
    async for event in handle.fetch_history_events():
        at = event.event_time.ToDatetime(tzinfo=UTC)
        first = first or at
        last = at
        if event.HasField("activity_task_scheduled_event_attributes"):
            summary = ""
            if event.user_metadata.HasField("summary"):
                decoded = await client.data_converter.decode([event.user_metadata.summary])
                summary = str(decoded[0])
            scheduled[event.event_id] = (summary, at)
        elif event.HasField("activity_task_completed_event_attributes"):
            rule, began = scheduled[
                event.activity_task_completed_event_attributes.scheduled_event_id
            ]
            if rule:
                rules[rule] = (at - began).total_seconds()
    assert first is not None and last is not None
    return (last - first).total_seconds(), rules, report


async def main(steps: list[int], runs: int, base: Path, record: bool = True) -> None:
    where = machine()
    stack = Stack(base, free_ports())
    print(f"starting the stack without a business worker in {base} …", flush=True)
    stack.start(with_worker=False)
    env = stack.client_env()
    settings = Settings(CONTINUUM_DATA_DIR=base)
    config = load_watchdog_config(settings)
    store = Store(settings.store_url).open()
    erp = ReferenceErpClient(stack.url("erp"), api_token=env["ERP_API_TOKEN"])
    assert config.calendar is not None
    context = WatchdogContext(
        config=config, calendar=config.calendar, sync=SyncStore(store), erp=erp
    )
    rows: list[str] = []
    alone: dict[str, list[str]] = {rule.name: [] for rule in config.rules}
    try:
        client = await connect(stack.temporal_address, stack.data_converter())
        async with Worker(
            client,
            task_queue=TASK_QUEUE,
            workflows=[Watchdog, *ALERT_WORKFLOWS],
            activities=[
                *WatchdogActivities(client, context).all(),
                *alert_activities(client, settings),
            ],
        ):
            parked = 0
            for step in steps:
                print(f"parking orders up to {step:,} …", flush=True)
                await park(client, step - parked, parked)
                parked = step
                await visible(client, parked)
                candidates = {
                    r.name: (
                        await client.count_workflows(
                            retrying_candidates_query(r, datetime.now(UTC))
                        )
                    ).count
                    for r in config.rules
                    if isinstance(r, RetryingRule)
                }
                measured = [await one_run(client) for _ in range(runs)]
                took = statistics.median(m[0] for m in measured)
                per_rule = {
                    rule.name: statistics.median(m[1].get(rule.name, 0.0) for m in measured)
                    for rule in config.rules
                }
                slowest = max(per_rule, key=lambda name: per_rule[name])
                report = measured[-1][2]
                shown = " | ".join(f"{per_rule[n] * 1000:.0f}" for n in SHOWN)
                worst = f"{slowest} {per_rule[slowest] * 1000:.0f}"
                rows.append(
                    f"| {parked:,} | {took:.2f} | {shown} | {worst}"
                    f" | {sum(candidates.values())} | {len(report.firing)} |"
                )
                print(rows[-1], flush=True)
                # Each rule by itself: what it costs without the others queued beside it.
                for rule in config.rules:
                    by_itself = [(await one_run(client, [rule.name]))[1] for _ in range(3)]
                    ms = statistics.median(r.get(rule.name, 0.0) for r in by_itself) * 1000
                    alone[rule.name].append(f"{ms:.0f}")
    finally:
        await erp.aclose()
        store.close()
        stack.stop()
    header = " | ".join(f"{n} (ms)" for n in SHOWN)
    body = (
        f"- {len(config.rules)} rules (continuum/defaults/watchdog.toml), {runs} runs per step, "
        "medians; a rule's time is its activity's, scheduled to completed (server clock); the run "
        "is its history's first event to its last. Parked orders: OrderToCash executions on a "
        "queue nobody serves (OrderStatus AwaitingDelivery, a tenth AwaitingApproval, StateSince "
        "over the last five days); no business worker runs, so `business-worker-down` fires.\n"
        "- described: processes the `retrying` rules' visibility query finds as candidates (each is"
        " described: the part of the cost that could grow with the number of processes).\n\n"
        f"| parked orders | watchdog run (s) | {header} | slowest rule (ms) | described"
        " | firing |\n"
        f"|{'---|' * (5 + len(SHOWN))}\n" + "\n".join(rows) + "\n\n"
        "Each rule run by itself (median of 3, ms), per step:\n\n"
        f"| rule | {' | '.join(f'{n:,} parked' for n in steps)} |\n"
        f"|{'---|' * (1 + len(steps))}\n"
        + "\n".join(f"| {name} | {' | '.join(times)} |" for name, times in alone.items())
        + "\n"
    )
    command = f"python -m benchmarks.watchdog --steps {','.join(map(str, steps))} --runs {runs}"
    if record:
        append_section("Watchdog evaluation cost with parked orders", command, where, body)
    else:
        print(body)


def cli() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.watchdog", description=__doc__)
    parser.add_argument("--steps", default="0,1000,10000", help="parked orders after each step")
    parser.add_argument("--runs", type=int, default=5, help="watchdog runs per step")
    parser.add_argument("--no-record", action="store_true", help="print, leave BENCHMARKS.md")
    args = parser.parse_args()
    steps = [int(s) for s in args.steps.split(",")]
    with tempfile.TemporaryDirectory(prefix="continuum-watchdog-bench-") as tmp:
        asyncio.run(main(steps, args.runs, Path(tmp), record=not args.no_record))


if __name__ == "__main__":
    cli()
