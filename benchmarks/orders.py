"""`python -m benchmarks.orders [--orders 200] [--rounds 2] [--latency-seconds 30]`: order
throughput against a no-op twin, history events and round trips per order, and latency at
half the maximum throughput, in one run.

It starts its own embedded stack on free ports (dev server on SQLite with the pragmas of
`make run`, reference ERP and CRM) and one benchmark worker (`benchmarks.worker`: the ordinary
worker plus the twin, `benchmarks.twin`). Orders take the auto-approved path and the services
inject no faults; the carrier (`starters.carrier`) reports each delivery as soon as it sees
the order shipped, for orders and twins alike.

1. Throughput: in each round a burst of `--orders` orders and a burst of as many twins, in
   alternating order (the load of a shared machine drifts; both should see the same drift),
   timed from the first start to the last completion on the server's clock.
2. From one finished order's history (and a twin's): events by type, workflow and activity
   tasks, and what each workflow task (one step of the process) costs.
3. Orders started at half the measured order throughput for `--latency-seconds`: p50 and p95
   of start → completion, and how much of it is the carrier's (visibility polling) delay.
   With `--events`, as many orders without publishing at the same pace after them: whether
   the order itself waits for publishing, apart from the CPU it takes from the machine.

Before each burst it probes the machine while the benchmark stands still (`benchmarks.load`):
the load average, and the CPU other processes use in cores; and it measures the others' CPU
during the burst too. When other processes used more than `--max-others` cores before or
during any burst, the figures are printed but not written to BENCHMARKS.md (exit status 3),
unless `--record-busy` asks to write them marked as taken on a busy machine; `--wait-quiet`
waits (bounded) for the others to quieten before each burst.

Prints the figures and appends a dated section with the machine to BENCHMARKS.md.
Not a test: figures on a shared machine vary from run to run.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from collections import Counter
from collections.abc import Awaitable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client, WorkflowExecutionStatus

from benchmarks.harness import Bench, Burst, burst, machine, make_orders, paced, percentile
from benchmarks.harness import append_section as append
from benchmarks.load import DEFAULT_MAX_OTHERS, Meter, Window, quiet_window, verdict
from domain.orders.contract import workflow_id

COMPLETED = WorkflowExecutionStatus.COMPLETED

# Events a workflow task's commands write; everything else in a step is what woke it.
COMMANDS = {
    EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED,
    EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES,
    EventType.EVENT_TYPE_TIMER_STARTED,
    EventType.EVENT_TYPE_TIMER_CANCELED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED,
    EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED,
    EventType.EVENT_TYPE_MARKER_RECORDED,
    EventType.EVENT_TYPE_WORKFLOW_PROPERTIES_MODIFIED,
}
WFT = {
    EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED,
    EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED,
    EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED,
}


T = TypeVar("T")


def name(event_type: int) -> str:
    return EventType.Name(event_type).removeprefix("EVENT_TYPE_").lower()  # type: ignore[arg-type]


@dataclass
class Tally:
    orders: int = 0
    seconds: float = 0.0
    completed: int = 0
    cpu: Counter[str] = field(default_factory=Counter)  # CPU seconds by process

    @property
    def rate(self) -> float:
        return self.orders / self.seconds if self.seconds else 0.0

    def cpu_per_order(self) -> str:
        parts = [f"{part} {1000 * s / self.orders:.0f} ms" for part, s in self.cpu.items()]
        return f"CPU per order: {', '.join(parts)}"


@dataclass
class Step:
    """One workflow task with what woke it and what it commanded."""

    woke: list[str] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)
    events: int = 0
    activity_tasks: int = 0
    workflow_tasks: int = 0


def steps(events: list[HistoryEvent]) -> list[Step]:
    activity = {
        e.event_id: e.activity_task_scheduled_event_attributes.activity_type.name
        for e in events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    }
    found: list[Step] = []
    current, commanding = Step(), False
    for e in events:
        t = e.event_type
        if commanding and t not in COMMANDS:
            found.append(current)
            current, commanding = Step(), False
        current.events += 1
        if t == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
            current.workflow_tasks += 1
            commanding = True
        elif t in COMMANDS:
            what = name(t)
            if t == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
                what = activity[e.event_id]
            current.commands.append(what)
        elif t == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            scheduled = e.activity_task_completed_event_attributes.scheduled_event_id
            current.woke.append(f"{activity[scheduled]} done")
        elif t == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            current.activity_tasks += 1
        elif t == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
            current.woke.append(
                f"signal {e.workflow_execution_signaled_event_attributes.signal_name}"
            )
        elif t == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
            current.woke.append("start")
        elif t not in WFT:
            current.woke.append(name(t))
    found.append(current)
    return found


@dataclass(frozen=True)
class Gate:
    """When figures count as taken on a quiet machine, and what to do when they do not."""

    max_others: float = DEFAULT_MAX_OTHERS  # cores other processes may use
    wait_quiet: float = 0.0  # seconds to wait for them to quieten before each burst
    probe_seconds: float = 3.0
    record_busy: bool = False  # write busy figures anyway, marked


@dataclass
class Measured:
    """One burst's machine: before it (the benchmark idle) and during it."""

    what: str
    rate: float
    before: Window
    during: Window


async def gated(meter: Meter, gate: Gate, what: str, log: list[Measured], run: Awaitable[T]) -> T:
    """Runs a burst (not started until the machine was probed) between two machine windows
    and logs them with what it measured."""
    before = await quiet_window(
        meter, seconds=gate.probe_seconds, wait=gate.wait_quiet, max_others=gate.max_others
    )
    meter.start()
    got = await run
    during = meter.stop()
    rate = got.rate if isinstance(got, Burst) else 0.0
    log.append(Measured(what, rate, before, during))
    flag = " BUSY" if before.busy(gate.max_others) or during.busy(gate.max_others) else ""
    print(
        f"  {what}: load average before {_load(before)}; others {before.others_cores:.2f}"
        f" cores before, {during.others_cores:.2f} during{flag}",
        flush=True,
    )
    return got


def _load(window: Window) -> str:
    return ", ".join(f"{x:.2f}" for x in window.load_before)


def machine_table(log: list[Measured], gate: Gate) -> str:
    rows = "\n".join(
        f"| {m.what} | {_load(m.before)} | {m.before.others_cores:.2f} |"
        f" {m.during.others_cores:.2f} | {m.during.machine_cores:.2f} |"
        f" {f'{m.rate:.1f}' if m.rate else '—'} |"
        for m in log
    )
    return (
        f"- the machine around each burst (others = CPU of processes not the benchmark's, in"
        f" cores, {gate.probe_seconds:g} s before the burst with the benchmark idle and during"
        f" it; a burst counts as busy above {gate.max_others:.2f}):\n\n"
        "| burst | load average before | others before | others during | machine during |"
        " per s |\n| --- | --- | --- | --- | --- | --- |\n"
        f"{rows}\n\n"
    )


def summarise(commands: list[str]) -> str:
    counted = Counter(commands)
    return ", ".join(f"{n}× {c}" if n > 1 else c for c, n in counted.items())


async def history(client: Client, order_id: str) -> list[HistoryEvent]:
    handle = client.get_workflow_handle(workflow_id(order_id))
    return [e async for e in handle.fetch_history_events()]


def carrier_delay(events: list[HistoryEvent]) -> float | None:
    """Seconds from the shipment step's completion to the `delivered` signal."""
    shipped: float | None = None
    scheduled = {
        e.event_id: e.activity_task_scheduled_event_attributes.activity_type.name
        for e in events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    }
    for e in events:
        at = e.event_time.ToDatetime().timestamp()
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            step = scheduled[e.activity_task_completed_event_attributes.scheduled_event_id]
            if step.endswith("create_shipment"):
                shipped = at
        elif e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED and shipped:
            return at - shipped
    return None


def accounting(order: list[HistoryEvent], twin: list[HistoryEvent]) -> str:
    by_type = Counter(name(e.event_type) for e in order)
    twin_by_type = Counter(name(e.event_type) for e in twin)
    order_steps, twin_steps = steps(order), steps(twin)
    wft = sum(s.workflow_tasks for s in order_steps)
    acts = sum(s.activity_tasks for s in order_steps)
    twin_wft = sum(s.workflow_tasks for s in twin_steps)
    twin_acts = sum(s.activity_tasks for s in twin_steps)
    types = "\n".join(
        f"| {t} | {by_type[t]} | {twin_by_type[t]} |"
        for t in sorted(set(by_type) | set(twin_by_type), key=lambda t: -by_type[t])
    )
    rows = "\n".join(
        f"| {', '.join(s.woke) or '—'} | {summarise(s.commands) or '—'} | {s.events} |"
        f" {s.workflow_tasks} + {s.activity_tasks} |"
        for s in order_steps
    )
    return (
        f"- **history events per order: {len(order)}** (twin: {len(twin)})\n"
        f"- **server round trips per order: {wft + acts + 3}** = {wft} workflow tasks + {acts}"
        f" activity tasks on the worker (each a poll answered and a completion sent) + 3 client"
        f" calls (start; the carrier's describe and `delivered` signal, `OrderClient.deliver`);"
        f" the twin: {twin_wft} + {twin_acts} + 3. Not counted: the carrier's visibility lists"
        f" (one per 100 open orders every 0.1 s, shared by all open orders), and polls the SDK"
        f" saves when the server hands an activity back eagerly in the workflow task's answer"
        f" (the history does not show which)\n\n"
        "Events by type:\n\n| event | order | twin |\n| --- | --- | --- |\n"
        f"{types}\n\n"
        "What each step costs (one row per workflow task of the order: what woke it, what it"
        " commanded, the events it wrote including its own 3 workflow-task events and the"
        " activity's started/completed, and round trips as workflow tasks + activity tasks"
        " started in it):\n\n"
        "| woken by | commands | events | round trips |\n| --- | --- | --- | --- |\n"
        f"{rows}\n\n"
    )


async def main(
    orders: int,
    rounds: int,
    latency_seconds: float,
    data_dir: Path,
    record: bool,
    gate: Gate | None = None,
    events: bool = False,
) -> int:
    gate = gate or Gate()
    where = machine()
    bench = Bench(data_dir, events=events)
    print(f"starting the stack in {data_dir} …", flush=True)
    client = await bench.start()
    meter, log = Meter(bench.pids), list[Measured]()
    try:
        # Warm-up: imports, sandboxes, connections, SQLite pages; not counted.
        await burst(client, make_orders("W", 20), twin=False)
        await burst(client, make_orders("WT", 20), twin=True)
        if events:
            await burst(client, make_orders("WU", 20), twin=False, quiet=True)
        # With --events, orders without publishing too (the worker's quiet queue), in the
        # same rounds: the cost of publishing compared within one run.
        real, twin, plain = Tally(), Tally(), Tally()
        tallies = {"order": real, "twin": twin, "unpublished order": plain}
        kinds = list(tallies) if events else ["order", "twin"]
        for n in range(rounds):
            for kind in kinds if n % 2 == 0 else kinds[::-1]:
                tally = tallies[kind]
                batch = make_orders(f"R{n}{kind[0]}", orders)
                what = f"round {n + 1} {kind}s"
                before = bench.cpu_seconds()
                run = burst(client, batch, kind == "twin", quiet=tally is plain)
                got = await gated(meter, gate, what, log, run)
                tally.orders += got.orders
                tally.seconds += got.seconds
                tally.completed += got.completed
                tally.cpu.update({k: v - before[k] for k, v in bench.cpu_seconds().items()})
                print(
                    f"round {n + 1}/{rounds} {kind}s: {got.orders} in {got.seconds:.1f}s"
                    f" = {got.rate:.1f}/s ({got.completed} completed)",
                    flush=True,
                )
        ratio = real.rate / twin.rate
        print(f"orders {real.rate:.1f}/s, twin {twin.rate:.1f}/s, ratio {ratio:.2f}", flush=True)
        if events:
            print(
                f"orders without publishing {plain.rate:.1f}/s:"
                f" with / without {real.rate / plain.rate:.2f}",
                flush=True,
            )

        order_events = await history(client, "R0o-000000")
        twin_events = await history(client, "R0t-000000")
        accounts = accounting(order_events, twin_events)

        rate = real.rate / 2
        count = max(10, round(rate * latency_seconds))
        print(f"latency: {count} orders at {rate:.1f}/s …", flush=True)
        paced_orders = make_orders("L", count)
        timed = await gated(meter, gate, "latency (paced)", log, paced(client, paced_orders, rate))
        done = [t for t in timed if t.status is COMPLETED]
        seconds = [t.seconds for t in done]
        sample = [await history(client, t.order_id) for t in done[:: max(1, len(done) // 100)]]
        delays = [d for d in map(carrier_delay, sample) if d is not None]
        p50, p95 = percentile(seconds, 50), percentile(seconds, 95)
        d50, d95 = percentile(delays, 50), percentile(delays, 95)
        print(f"latency p50 {p50:.2f}s p95 {p95:.2f}s; carrier delay p50 {d50:.2f}s", flush=True)
        unpublished = ""
        if events:
            # The same pace without publishing: does the order itself wait for it?
            plain_orders = make_orders("LU", count)
            plain_run = paced(client, plain_orders, rate, quiet=True)
            plain_timed = await gated(meter, gate, "latency unpublished (paced)", log, plain_run)
            plain_done = [t.seconds for t in plain_timed if t.status is COMPLETED]
            u50, u95 = percentile(plain_done, 50), percentile(plain_done, 95)
            print(f"latency without publishing p50 {u50:.2f}s p95 {u95:.2f}s", flush=True)
            unpublished = (
                f"- **latency without publishing, same pace** ({count} orders,"
                f" {len(plain_done)} completed): p50 {u50:.2f} s, p95 {u95:.2f} s\n"
            )
    finally:
        bench.stop()

    busy = verdict([w for m in log for w in (m.before, m.during)], gate.max_others)
    mark = (
        f"- **measured on a busy machine: {busy}. Compare only the ratios within this run;"
        f" the rates are not comparable with quiet-machine figures**\n"
        if busy
        else ""
    )
    publishing = (
        "- **business events published**: every order hands its events to its publisher"
        " (events worker) which delivers them to an embedded NATS JetStream; the twin's"
        " hand-over is a no-op, so the ratio includes what publishing costs the order path\n"
        f"- **orders without publishing, in the same rounds: {plain.rate:.1f}/s**"
        f" ({plain.orders} in {plain.seconds:.1f} s, {plain.completed} completed;"
        f" {plain.cpu_per_order()}): **with / without {real.rate / plain.rate:.2f}**\n"
        if events
        else "- business events off (no sink configured: the hand-over starts nothing)\n"
    )
    body = (
        f"{mark}{publishing}"
        f"- {orders} orders per burst, {rounds} rounds, each an order burst and a twin burst"
        f"{' and an unpublished order burst' if events else ''} in alternating order,"
        f" after a warm-up of 20 each; auto-approved path (one line of"
        f" 9.99 EUR), no injected faults or latency; one benchmark worker (default tuning:"
        f" 100 activities, 50 workflow tasks, cache 10,000); the carrier (`starters.carrier`,"
        f" 0.1 s rounds) delivers orders and twins alike\n"
        f"- **order throughput: {real.rate:.1f} orders/s** ({real.orders} in"
        f" {real.seconds:.1f} s, {real.completed} completed; {real.cpu_per_order()})\n"
        f"- **no-op twin: {twin.rate:.1f}/s** ({twin.orders} in {twin.seconds:.1f} s,"
        f" {twin.completed} completed; {twin.cpu_per_order()})\n"
        f"- **ratio: {ratio:.2f}** (goal ≥ 0.9)\n"
        f"{accounts}"
        f"- **latency at half the order throughput** ({count} orders started at"
        f" {rate:.1f}/s, {len(done)} completed): start → completion **p50 {p50:.2f} s, p95"
        f" {p95:.2f} s**; of it the carrier's delay (shipment done → `delivered` signal, from"
        f" {len(delays)} histories) p50 {d50:.2f} s, p95 {d95:.2f} s\n"
        f"{unpublished}"
        f"{machine_table(log, gate)}"
    )
    command = (
        f"python -m benchmarks.orders --orders {orders} --rounds {rounds}"
        f" --latency-seconds {latency_seconds:g}{' --events' if events else ''}"
    )
    print(body)
    if not record:
        return 0
    if busy and not gate.record_busy:
        print(f"not written to BENCHMARKS.md: {busy} (--record-busy writes it marked)")
        return 3
    append("Order throughput, history and latency", command, where, body)
    return 0


def cli() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.orders", description=__doc__)
    parser.add_argument("--orders", type=int, default=200, help="orders per burst")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds (1–10)")
    parser.add_argument("--latency-seconds", type=float, default=30.0)
    parser.add_argument("--data-dir", type=Path, default=None, help="default: a temp dir")
    parser.add_argument("--no-record", action="store_true", help="print, leave BENCHMARKS.md")
    parser.add_argument(
        "--max-others",
        type=float,
        default=DEFAULT_MAX_OTHERS,
        help="cores other processes may use before a burst counts as busy",
    )
    parser.add_argument(
        "--wait-quiet", type=float, default=0.0, help="seconds to wait for a quiet machine"
    )
    parser.add_argument(
        "--record-busy", action="store_true", help="write busy figures too, marked as such"
    )
    parser.add_argument(
        "--events", action="store_true", help="publish the orders' business events (NATS)"
    )
    args = parser.parse_args()
    if not 10 <= args.orders <= 5000 or not 1 <= args.rounds <= 10:
        parser.error("--orders 10–5,000, --rounds 1–10")
    gate = Gate(args.max_others, args.wait_quiet, record_busy=args.record_busy)
    run = (args.orders, args.rounds, args.latency_seconds)
    if args.data_dir is not None:
        raise SystemExit(
            asyncio.run(main(*run, args.data_dir.resolve(), not args.no_record, gate, args.events))
        )
    with tempfile.TemporaryDirectory(prefix="continuum-bench-") as tmp:
        code = asyncio.run(main(*run, Path(tmp), not args.no_record, gate, args.events))
    raise SystemExit(code)


if __name__ == "__main__":
    cli()
