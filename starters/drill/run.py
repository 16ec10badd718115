"""`continuum drill`: prove that the business keeps running while its parts fail.

On a fresh embedded stack (free ports, files under `--data-dir`/stack) it starts orders at a
steady rate, runs ERP→CRM sync passes back to back (`starters.drill.sync`), injects the fault
timeline of `starters.drill.faults` (ERP errors, a CRM 429 storm, an ERP outage, the worker
killed, Temporal restarted), plays the carrier, and waits until every order has settled; a
final sync pass and a reconciliation follow. Then it judges the ERP's, the CRM's and the
sync's databases and Temporal's histories (`domain.drill`), prints the continuity report
and writes `report.json` and `timeline.png` into `--data-dir`. Exit code 0 when every
invariant held, 1 when one broke, 2 when the drill itself could not run.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import shutil
import signal
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Annotated

import httpx
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from temporalio.runtime import LoggingConfig, Runtime, TelemetryConfig, TelemetryFilter
from temporalio.service import RPCError

from continuum.client import connect
from continuum.order_client import OrderClient, OrderError
from continuum.purchasing.client import PurchaseClient
from continuum.settings import get_settings
from continuum.stack import Ports, Stack, StackError
from continuum.supervisor import ProcessError, free_port
from domain.drill import (
    ContinuityReport,
    OrderFacts,
    OrderKind,
    build_report,
    check_sync,
    detection_invariants,
)
from domain.drill_purchases import check_purchases
from domain.orders.models import Order, OrderLine, PaymentMethod
from starters.carrier import Carrier
from starters.demo import ADDRESS, CUSTOMERS
from starters.drill.detection import (
    FULL_DETECTION,
    SHORT_DETECTION,
    DetectionDrill,
    DetectionPlan,
    ops_env,
)
from starters.drill.facts import add_records, sync_facts, temporal_facts
from starters.drill.faults import FULL_TIMELINE, SHORT_TIMELINE, FaultInjector, FaultStep, now
from starters.drill.phases import Phases
from starters.drill.purchases import (
    DrillPurchase,
    PurchaseDesk,
    drill_purchases,
    purchase_facts,
)
from starters.drill.report import draw_detection, draw_timeline, print_report
from starters.drill.sync import SyncPasses

ROUND = 0.5  # seconds between the carrier's rounds
START_WITHIN = 120.0  # how long one order's start may be refused (Temporal away) before giving up


@dataclass
class DrillPlan:
    orders: int
    rate: float  # orders started per second
    timeline: list[FaultStep]
    settle_within: float  # seconds orders may take to settle once the load and faults are over
    detection: DetectionPlan  # then: stops of business, each to be paged
    purchases: int = 0  # started evenly through the load, among the orders


# Measured on a shared 2-core machine: about 1.5 to 3 orders/s end to end (ten steps each).
SHORT = DrillPlan(
    orders=200,
    rate=2.5,
    timeline=SHORT_TIMELINE,
    settle_within=150.0,
    detection=SHORT_DETECTION,
    purchases=18,  # three of each kind
)
FULL = DrillPlan(
    orders=600,
    rate=2.5,
    timeline=FULL_TIMELINE,
    settle_within=300.0,
    detection=FULL_DETECTION,
    purchases=48,
)


def drill_orders(count: int, run_id: str) -> list[tuple[Order, OrderKind]]:
    """Mostly ordinary orders; of every 50, one invalid, one declined, one needing approval."""
    made: list[tuple[Order, OrderKind]] = []
    for i in range(count):
        kind = {7: OrderKind.INVALID, 21: OrderKind.DECLINED, 35: OrderKind.APPROVAL}.get(
            i % 50, OrderKind.STANDARD
        )
        made.append((drill_order(f"DR-{run_id}-{i + 1:05d}", i, kind), kind))
    return made


def drill_order(order_id: str, i: int, kind: OrderKind = OrderKind.STANDARD) -> Order:
    quantity, price = (60, "99.00") if kind is OrderKind.APPROVAL else (1 + i % 3, "24.50")
    return Order(
        order_id=order_id,
        customer=CUSTOMERS[i % len(CUSTOMERS)],
        lines=[OrderLine(sku=f"SKU-00{1 + i % 5}", quantity=quantity, unit_price=Decimal(price))],
        currency="ZZZ" if kind is OrderKind.INVALID else "EUR",
        shipping_address=ADDRESS,
        payment_method=PaymentMethod.CARD,
        payment_reference="tok_declined" if kind is OrderKind.DECLINED else "tok_visa",
    )


def free_ports() -> Ports:
    return Ports(**{f.name: free_port() for f in dataclasses.fields(Ports)})


def quiet_runtime() -> Runtime:
    """The drill's own client: no retry warnings on the console while Temporal is away."""
    logging = LoggingConfig(filter=TelemetryFilter(core_level="ERROR", other_level="ERROR"))
    return Runtime(telemetry=TelemetryConfig(logging=logging))


async def start_until_accepted(orders: OrderClient, order: Order) -> None:
    """Starts an order, retrying while Temporal is away; "already exists" means it got there."""
    deadline = time.monotonic() + START_WITHIN
    while True:
        try:
            await orders.start(order)
            return
        except OrderError as err:
            if "already exists" in str(err):
                return  # an earlier attempt reached Temporal before the answer was lost
            raise
        except RPCError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.5)


async def launch(
    orders: OrderClient, batch: Sequence[Order], rate: float, origin: float, launched: list[str]
) -> None:
    for i, order in enumerate(batch):
        await asyncio.sleep(max(0.0, origin + i / rate - time.monotonic()))
        await start_until_accepted(orders, order)
        launched.append(order.order_id)


async def _keep_playing(desk: PurchaseDesk) -> None:
    while True:
        await desk.round()
        await asyncio.sleep(ROUND)


async def launch_purchases(
    desk: PurchaseDesk, batch: Sequence[DrillPurchase], over: float, origin: float
) -> None:
    """The purchases spread evenly over `over` seconds from `origin` (the orders' load)."""
    for i, purchase in enumerate(batch):
        due = origin + (i + 0.5) * over / len(batch)
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        await desk.start(purchase, START_WITHIN)


async def run_drill(
    plan: DrillPlan, data_dir: Path, console: Console, phases: Phases | None = None
) -> tuple[ContinuityReport, list[OrderFacts]]:
    phases = phases or Phases()
    stack_dir = data_dir / "stack"
    await asyncio.to_thread(shutil.rmtree, stack_dir, ignore_errors=True)
    # The ops worker runs the watchdog with the drill's own rules, for the detection part.
    stack = Stack(stack_dir, free_ports(), with_ops_worker=True, ops_env=ops_env(plan.detection))
    born = now()  # the ERP's seed records date from here: the final reconciliation's window
    with (
        console.status("starting a fresh embedded stack on free ports…"),
        phases.timed("stack start"),
    ):
        await asyncio.to_thread(stack.start)
    try:
        return await _drive(plan, stack, console, born, phases)
    finally:
        with console.status("stopping the stack…"), phases.timed("stack stop"):
            await asyncio.to_thread(stack.stop)


async def _drive(
    plan: DrillPlan, stack: Stack, console: Console, born: datetime, phases: Phases
) -> tuple[ContinuityReport, list[OrderFacts]]:
    client = await connect(stack.temporal_address, stack.data_converter(), runtime=quiet_runtime())
    orders = OrderClient(client, get_settings().task_queue)
    sync = SyncPasses(client, get_settings().task_queue)
    run_id = datetime.now(UTC).strftime("%H%M%S")
    batch = drill_orders(plan.orders, run_id)
    kinds = {order.order_id: kind for order, kind in batch}
    launched: list[str] = []
    carrier = Carrier(orders, "drill-carrier")
    # The drill's purchases under the configured policy (its tolerances judge the payments).
    desk = PurchaseDesk(
        PurchaseClient(client, get_settings().task_queue), get_settings().purchasing_policy()
    )
    buying = drill_purchases(plan.purchases, run_id)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    started_at, origin = now(), time.monotonic()
    async with httpx.AsyncClient(timeout=10) as http:
        injector = FaultInjector(stack, http)
        with Progress(*columns, TimeElapsedColumn(), console=console) as progress:
            started = progress.add_task("orders started", total=plan.orders)
            settled = progress.add_task("orders settled", total=plan.orders)
            bought = progress.add_task("purchases settled", total=plan.purchases)

            async def one_round() -> None:
                await carrier.round(launched)
                await desk.round()
                progress.update(bought, completed=len(desk.scripts) - len(desk.unsettled()))
                total = max(plan.orders, len(launched))  # the detection part adds orders
                progress.update(started, completed=len(launched), total=total)
                settled_now = len(launched) - len(carrier.unsettled(launched))
                progress.update(settled, completed=settled_now, total=total)

            async def until_settled(phase: str) -> None:
                with phases.timed(phase):
                    deadline = time.monotonic() + plan.settle_within
                    while (
                        carrier.unsettled(launched) or desk.unsettled()
                    ) and time.monotonic() < deadline:
                        await asyncio.sleep(ROUND)
                        await one_round()

            try:
                with phases.timed("load and faults"):
                    async with asyncio.TaskGroup() as group:
                        faults = group.create_task(injector.run(plan.timeline, origin, console.log))
                        loading = group.create_task(
                            launch(orders, [o for o, _ in batch], plan.rate, origin, launched)
                        )
                        if buying:
                            load_seconds = plan.orders / plan.rate
                            group.create_task(launch_purchases(desk, buying, load_seconds, origin))
                        # Sync passes back to back for as long as orders and faults keep coming.
                        syncing = group.create_task(
                            sync.while_busy(lambda: not (loading.done() and faults.done()))
                        )
                        while not (loading.done() and faults.done() and syncing.done()):
                            await one_round()
                            await asyncio.sleep(ROUND)
            except ExceptionGroup as failed:
                raise failed.exceptions[0] from None
            await until_settled("settling")
            stats = {s: (await injector.faults(s, "GET"))["stats"] for s in ("erp", "crm")}
            # The drill's supplier and buyer keep playing while detection runs, as its carrier does.
            buying_on = asyncio.create_task(_keep_playing(desk))
            try:
                with phases.timed("detection"):
                    detection = await DetectionDrill(
                        plan.detection,
                        stack,
                        client,
                        orders,
                        carrier,
                        injector,
                        console,
                        lambda n: drill_order(f"DR-{run_id}-D{n:04d}", n),
                        launched,
                        kinds,
                        phases,
                    ).run()
            finally:
                buying_on.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await buying_on
            await until_settled("settling after detection")
            await desk.stop()
    with (
        console.status("a final sync pass and a reconciliation, the orders settled…"),
        phases.timed("final sync"),
    ):
        final = await sync.run("final", reconcile_since=born)
    console.log(f"sync: {len(sync.passes)} passes; the final one took {final.seconds:.1f} s")
    finished_at = now()
    with (
        console.status("reading the ERP, the CRM and every order's history…"),
        phases.timed("reading facts"),
    ):
        facts = await temporal_facts(client, kinds, carrier.standings)
        data = stack.data_dir
        add_records(facts, data / "erp.db", data / "crm.db")
        await sync.count_retries()
        mirrored = sync_facts(
            sync.passes, data / "erp.db", data / "crm.db", data / "continuum.db", started_at
        )
        purchased = await purchase_facts(desk, data / "erp.db") if buying else None
    windows = faults.result()
    report = build_report(
        facts,
        windows,
        started_at=started_at,
        finished_at=finished_at,
        fault_stats=stats,
        sync=check_sync(mirrored, windows),
        purchases=check_purchases(purchased) if purchased is not None else None,
    )
    report.detection = detection
    report.invariants += detection_invariants(detection)
    report.phases = phases.seconds
    return report, facts


def drill(
    orders: Annotated[
        int | None, typer.Option(min=10, help="How many orders (default 200 short, 600 full).")
    ] = None,
    short: Annotated[
        bool, typer.Option("--short", help="The short drill of `make test`: 8 s ERP outage.")
    ] = False,
    data_dir: Annotated[
        Path, typer.Option(help="Where the drill's stack, report.json and timeline.png go.")
    ] = Path(".data/drill"),
    keep: Annotated[
        bool, typer.Option("--keep", help="Keep the stack's databases and logs after a pass.")
    ] = False,
    rate: Annotated[float | None, typer.Option(min=0.1, help="Orders started per second.")] = None,
    purchases: Annotated[
        int | None,
        typer.Option(
            min=0, help="How many purchases among the orders (default 18 short, 48 full)."
        ),
    ] = None,
    timeline: Annotated[
        Path | None, typer.Option(help="A JSON list of fault steps instead of the default.")
    ] = None,
) -> None:
    """Run orders through injected faults, check nothing was lost or doubled, report."""
    console = Console()
    plan = dataclasses.replace(SHORT if short else FULL)
    if orders is not None:
        plan.orders = orders
    if rate is not None:
        plan.rate = rate
    if purchases is not None:
        plan.purchases = purchases
    if timeline is not None:
        steps = json.loads(timeline.read_text())
        plan.timeline = [FaultStep.model_validate(step) for step in steps]
    data_dir = data_dir.resolve()
    signal.signal(signal.SIGTERM, _interrupt)
    phases = Phases()
    try:
        report, facts = asyncio.run(run_drill(plan, data_dir, console, phases))
    except (StackError, ProcessError, TimeoutError, RPCError, OrderError) as err:
        Console(stderr=True).print(f"[bold red]error:[/] the drill could not run: {err}")
        raise typer.Exit(2) from None
    except KeyboardInterrupt:
        Console(stderr=True).print("interrupted; the drill's stack was stopped")
        raise typer.Exit(130) from None
    with phases.timed("charts"):
        chart = draw_timeline(data_dir / "timeline.png", report, facts)
        charts = [chart]
        if report.detection is not None:
            charts.append(draw_detection(data_dir / "detection.png", report.detection))
    report.phases = phases.seconds  # the stack's stop and the charts came after the report
    report_file = data_dir / "report.json"
    report_file.write_text(report.model_dump_json(indent=2))
    print_report(console, report, [report_file, *charts])
    if report.passed and not keep:
        shutil.rmtree(data_dir / "stack", ignore_errors=True)
    raise typer.Exit(0 if report.passed else 1)


def _interrupt(signum: int, frame: object) -> None:
    """SIGTERM stops the drill as Ctrl-C does: the stack it started is stopped too."""
    raise KeyboardInterrupt
