"""`continuum`: run the embedded stack, launch the demo, and start and drive orders (and,
with `continuum purchase`, purchases) by hand.

Every failure prints one line saying what is wrong and exits non-zero: a bad order file,
an unknown order id, a decision on a decided order, a port already taken.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.table import Table

from continuum.client import connect
from continuum.codec import KEY_FILE_ENV, CodecError, default_key_file, rotate_key_file
from continuum.erp_backends import ERP_BACKENDS, ErpName
from continuum.events.broker import events_config
from continuum.events.config import EventsConfigError, Nats
from continuum.order_client import OrderClient, OrderError
from continuum.redaction import install_redaction
from continuum.settings import get_settings
from continuum.stack import Ports, Stack, StackError
from continuum.supervisor import ProcessError, python_module
from continuum.telemetry import setup_tracing
from continuum.watchdog import load_watchdog_config, log_files
from domain.operations import operators
from domain.orders.models import OrderResult, OrderStatus
from domain.watchdog.config import WatchdogConfigError
from starters.alerts_cli import alerts_app
from starters.carrier import Carrier
from starters.console import console, err_console, fail
from starters.console import run as console_run
from starters.dead_letters_cli import dead_letters, redrive_command
from starters.demo import run_demo, summary_table
from starters.drill.run import drill
from starters.events_cli import events_app
from starters.incidents_cli import incidents_app
from starters.order_file import OrderFileError, load_order
from starters.purchase_demo import buyer_login, demo_purchases_in
from starters.purchasing_cli import purchase_app
from starters.release_cli import backup, release_app, restore
from starters.report_cli import report, schedules_and_first_report
from starters.schedules_cli import schedules_app
from starters.sync_cli import sync_app

app = typer.Typer(help="Continuum: business processes that must not stop.", no_args_is_help=True)
order_app = typer.Typer(help="Start and drive one order.", no_args_is_help=True)
app.add_typer(order_app, name="order")
app.add_typer(purchase_app, name="purchase")
app.add_typer(schedules_app, name="schedules")
app.add_typer(sync_app, name="sync")
app.add_typer(alerts_app, name="alerts")
app.add_typer(incidents_app, name="incidents")
app.add_typer(events_app, name="events")
# The broker's dead letters belong to the incident console.
incidents_app.command("dead-letters")(dead_letters)
incidents_app.command("redrive")(redrive_command)
app.add_typer(release_app, name="release")
app.command("backup")(backup)
app.command("restore")(restore)
app.command("report")(report)
app.command("drill")(drill)
T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    return console_run(coro, OrderError, OrderFileError, CodecError)


async def _orders() -> OrderClient:
    return OrderClient(await connect(), get_settings().task_queue)


def _with_orders(fn: Callable[[OrderClient], Awaitable[T]]) -> T:
    async def go() -> T:
        return await fn(await _orders())

    return run(go())


def print_result(result: OrderResult) -> None:
    console.print(
        f"[bold]{result.order_id}[/] {result.status.value}"
        + (f" — {result.reason}" if result.reason else "")
    )
    for step in result.steps:
        console.print(f"  ✓ {step.at:%Y-%m-%d %H:%M:%S} {step.step} {step.detail}".rstrip())
    for step in result.compensated:
        console.print(f"  ↺ {step.at:%Y-%m-%d %H:%M:%S} {step.step} {step.detail}".rstrip())


def _embedded_nats() -> Nats | None:
    """The events' broker `up` starts itself (events.toml [nats], embedded = true)."""
    try:
        nats = events_config().nats
    except EventsConfigError as err:
        raise fail(str(err)) from None
    return nats if nats is not None and nats.embedded else None


@app.command()
def up(
    demo: Annotated[bool, typer.Option(help="Launch the demo orders once the stack is up.")] = True,
    orders: Annotated[int, typer.Option(min=3, max=500, help="How many demo orders.")] = 12,
    data_dir: Annotated[Path, typer.Option(help="Where the SQLite files and logs live.")] = Path(
        ".data"
    ),
    temporal_port: int = 7233,
    ui_port: int = 8233,
    erp_port: int = 8101,
    crm_port: int = 8102,
    worker_metrics_port: int = 9464,
    codec_port: int = 8234,
    gateway_port: int = 8103,
    ops_metrics_port: int = 9465,
    erp: Annotated[
        ErpName,
        typer.Option(
            help="The ERP: " + "; ".join(f"{b.name}, {b.help}" for b in ERP_BACKENDS.values())
        ),
    ] = "reference",
) -> None:
    """Start the embedded stack (and the demo), stay up until Ctrl-C, then stop everything."""
    stack = Stack(
        data_dir.resolve(),
        Ports(
            temporal_port,
            ui_port,
            erp_port,
            crm_port,
            worker_metrics=worker_metrics_port,
            codec=codec_port,
            gateway=gateway_port,
            ops_metrics=ops_metrics_port,
        ),
        erp_backend=erp,
        with_gateway=True,
        with_ops_worker=True,
        nats=_embedded_nats(),
    )
    # A bad watchdog rule stops `up` before anything starts, in the ops worker's own words.
    alerts_to = watchdog_log_files(stack.data_dir)
    # A supervisor's SIGTERM and a closed terminal's SIGHUP stop the stack as Ctrl-C does.
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGHUP, _interrupt)
    if notice := stack.erp.setup_notice(stack.erp_home):
        console.print(notice)
    try:
        parts = f"Temporal, the {erp} ERP, the CRM, the workers and the gateway"
        with console.status(f"starting {parts}…"):
            stack.start()
    except (StackError, ProcessError, TimeoutError) as err:
        raise fail(str(err)) from None
    except KeyboardInterrupt:
        stack.stop()
        raise typer.Exit(130) from None
    try:
        _show_stack(stack)
        if alerts_to:
            console.print(
                f"Alerts (no receiver configured, WATCHDOG_CONFIG_FILE): {', '.join(alerts_to)}"
            )
        waiting: list[str] = []  # demo orders still open: the demo carrier serves them
        if demo:
            env = stack.client_env()

            async def go() -> None:
                client = OrderClient(
                    await connect(env["TEMPORAL_ADDRESS"], stack.data_converter()),
                    get_settings().task_queue,
                )
                results = await run_demo(client, console, orders)
                console.print(summary_table(results, stack.ui_url))
                waiting.extend(r.order_id for r in results if not r.status.is_terminal)
                inbox = f"{stack.url('gateway')}/inbox"
                await demo_purchases_in(client.client, console, stack.ui_url, inbox)

            run(go())

        async def chores() -> None:
            client = await connect(stack.temporal_address, stack.data_converter())
            await schedules_and_first_report(client, console)

        run(chores())
        console.print(f"\nWeb UI: [link]{stack.ui_url}[/link]   logs: {stack.data_dir / 'logs'}")
        console.print(
            "Orders waiting for approval: "
            f"{stack.ui_url}/namespaces/default/workflows?query=OrderStatus%3D%22AwaitingApproval%22"
        )
        console.print(
            f"Decide them in the inbox: {stack.url('gateway')}/inbox, {_demo_login(stack)}"
        )
        console.print(f"Purchase exceptions wait there too: {buyer_login()}")
        if waiting:
            console.print("A demo carrier delivers the waiting demo orders once they are approved.")
        console.print("[bold]Stack is up.[/] Press Ctrl-C to stop it.")
        asyncio.run(_stay_up(stack, waiting))
        dead = [name for name, p in stack.processes.items() if not p.alive()]
        err_console.print(
            f"[bold red]{', '.join(dead)} stopped unexpectedly[/]; see {stack.data_dir / 'logs'}"
        )
    except KeyboardInterrupt:
        console.print("\nstopping…")
    finally:
        stack.stop()
        forced = [name for name, p in stack.processes.items() if p.forced]
        names = ", ".join(stack.processes)
        if forced:
            err_console.print(f"stopped {names}; {', '.join(forced)} had to be killed")
        else:
            console.print(f"stopped cleanly: {names}")


def watchdog_log_files(data_dir: Path) -> list[str]:
    """Where alerts go when only log files are configured; a bad rule is one line and exit 2."""
    try:
        config = load_watchdog_config(get_settings().model_copy(update={"data_dir": data_dir}))
    except WatchdogConfigError as err:
        raise fail(str(err), 2) from None
    return log_files(config)


async def _stay_up(stack: Stack, waiting: list[str]) -> None:
    """Returns when a process of the stack dies. Meanwhile it plays the carrier for the demo
    orders that waited for a person, so that one approved in the inbox ships and completes."""
    orders = OrderClient(
        await connect(stack.temporal_address, stack.data_converter()), get_settings().task_queue
    )
    carrier = Carrier(orders, "demo-carrier")
    while all(p.alive() for p in stack.processes.values()):
        await carrier.round(
            waiting
        )  # looks up only the orders still running; Temporal away: skipped
        await asyncio.sleep(1.0)


def _interrupt(signum: int, frame: object) -> None:
    """SIGTERM or SIGHUP stops the stack as cleanly as Ctrl-C does."""
    raise KeyboardInterrupt


def _demo_login(stack: Stack) -> str:
    """A sales manager from the approvals directory, who approves orders over the threshold."""
    policy = get_settings().approval_policy()
    holders = [name for name, p in policy.people.items() if policy.sales_role in p.roles]
    password = stack.client_env()["INBOX_DEMO_PASSWORD"]
    who = holders[0] if holders else "(nobody holds the sales role)"
    return f"sign in as {who} / {password} (the same for everyone in the approvals directory)"


def _operators() -> str:
    names = operators(get_settings().approval_policy().people)
    return f"sign in as {names[0]}" if names else "nobody holds the operations role"


def _show_stack(stack: Stack) -> None:
    table = Table(title="Continuum embedded stack")
    table.add_column("part")
    table.add_column("where")
    table.add_row("Temporal", stack.temporal_address)
    table.add_row("Web UI", stack.ui_url)
    table.add_row(stack.erp.title, stack.erp.where(stack.url("erp"), stack.erp_home))
    table.add_row("reference CRM", f"{stack.url('crm')}/docs")
    table.add_row("worker", f"pid {stack.processes['worker'].pid}")
    table.add_row("codec endpoint (Web UI)", stack.url("codec"))
    table.add_row("worker metrics", f"{stack.url('worker_metrics')}/metrics")
    table.add_row("approval inbox", f"{stack.url('gateway')}/inbox")
    # A random local demo secret (also in secrets.env, 0600), shown to whoever ran the stack.
    table.add_row("inbox demo login", _demo_login(stack))
    table.add_row("alerts page (operations)", f"{stack.url('gateway')}/alerts, {_operators()}")
    sources = "carrier,shop,payments,supplier,warehouse"
    table.add_row("webhooks", f"{stack.url('gateway')}/events/{{{sources}}}")
    if stack.nats is not None:
        table.add_row("events broker (NATS)", f"{stack.nats.url}; continuum events tail")
    table.add_row("data", str(stack.data_dir))
    console.print(table)


@app.command()
def demo(orders: Annotated[int, typer.Option(min=3, max=500)] = 12) -> None:
    """Launch the demo orders against a running stack."""

    async def go(client: OrderClient) -> None:
        results = await run_demo(client, console, orders)
        console.print(summary_table(results, "http://localhost:8233"))
        await demo_purchases_in(
            client.client, console, "http://localhost:8233", "http://localhost:8103/inbox"
        )

    _with_orders(go)


@order_app.command("start")
def order_start(
    file: Annotated[Path, typer.Option("--file", "-f", help="The order as JSON.")],
    wait: Annotated[bool, typer.Option(help="Wait until the order finishes.")] = False,
    by: Annotated[
        str | None,
        typer.Option("--by", help="Who enters the order (then may not approve it: four-eyes)."),
    ] = None,
) -> None:
    """Start order-to-cash for the order in FILE."""
    order = _load(file)

    async def go(client: OrderClient) -> None:
        await client.start(order, entered_by=by)
        console.print(f"started order {order.order_id} (workflow order-{order.order_id})")
        if wait:
            print_result(await client.result(order.order_id))

    _with_orders(go)


def _load(file: Path) -> Any:
    try:
        return load_order(file)
    except OrderFileError as err:
        raise fail(str(err)) from None


@order_app.command("status")
def order_status(order_id: str) -> None:
    """Where an order stands, and the steps it has done."""
    print_result(_with_orders(lambda c: c.status(order_id)))


@order_app.command("show")
def order_show(order_id: str) -> None:
    """The order as submitted: customer, lines, shipping address (decrypted here)."""
    order = _with_orders(lambda c: c.submitted(order_id))
    console.print_json(order.model_dump_json())


def _decide(order_id: str, approve: bool, by: str, comment: str) -> None:
    state = _with_orders(lambda c: c.decide(order_id, approve, by, comment))
    if state.verdict is None:  # a multi-level approval moved on to its next level
        waiting = getattr(state, "pending_role", None) or "?"
        console.print(f"order {order_id} approved by {by}; now waiting for {waiting}")
        return
    console.print(f"order {order_id} {state.verdict.value} by {state.decided_by}")


@order_app.command("approve")
def order_approve(
    order_id: str,
    by: Annotated[str, typer.Option("--by", help="Who approves.")],
    comment: str = "",
) -> None:
    """Approve an order waiting for approval."""
    _decide(order_id, True, by, comment)


@order_app.command("reject")
def order_reject(
    order_id: str,
    by: Annotated[str, typer.Option("--by", help="Who rejects.")],
    comment: str = "",
) -> None:
    """Reject an order waiting for approval."""
    _decide(order_id, False, by, comment)


@order_app.command("deliver")
def order_deliver(order_id: str, carrier: str = "manual") -> None:
    """Report that an order's shipment was delivered."""
    _with_orders(lambda c: c.deliver(order_id, carrier))
    console.print(f"delivery reported for order {order_id}")


@order_app.command("cancel")
def order_cancel(
    order_id: str,
    by: Annotated[str, typer.Option("--by", help="Who cancels.")],
    reason: str = "",
) -> None:
    """Cancel an order; the steps done so far are undone, newest first."""

    async def go(client: OrderClient) -> OrderResult:
        await client.cancel(order_id, by, reason)
        return await client.result(order_id)

    print_result(_with_orders(go))


@order_app.command("list")
def order_list(
    status: Annotated[list[OrderStatus] | None, typer.Option(help="Only these statuses.")] = None,
    limit: int = 50,
) -> None:
    """Recent orders from Temporal's visibility, newest first."""
    rows = _with_orders(lambda c: c.list(status or [], limit))
    table = Table()
    for column in ("order", "status", "total"):
        table.add_column(column)
    for order_id, state, total in rows:
        table.add_row(order_id, state, f"{total:,.2f}")
    console.print(table)


@app.command()
def worker() -> None:
    """Run a worker in the foreground (the same as `python -m workers`)."""
    argv = python_module("workers")
    os.execv(argv[0], argv)


keys_app = typer.Typer(help="The payload encryption keys.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")


@keys_app.command("rotate")
def keys_rotate(
    file: Annotated[
        Path | None,
        typer.Option(
            help="The key file; default CONTINUUM_CODEC_KEY_FILE or .data/codec-keys.json."
        ),
    ] = None,
) -> None:
    """Add a new key that encrypts from now on; older keys stay to decrypt older payloads.

    Restart the workers and the codec endpoint to encrypt with it (they read it at start).
    """
    path = file or Path(os.environ.get(KEY_FILE_ENV) or default_key_file(os.environ))
    try:
        key_id = rotate_key_file(path)
    except (CodecError, OSError) as err:
        raise fail(str(err)) from None
    console.print(f"new codec key {key_id} in {path} (the key itself is not printed)")


def main() -> None:
    install_redaction()  # the SDK's own log lines too
    tracing = setup_tracing("cli")  # an order started here is the root of its trace
    code: int | str | None = 0
    try:
        app()
    except SystemExit as done:
        code = done.code
    # The SDK's runtime threads can abort the interpreter's own shutdown after the command has
    # finished ("Fatal Python error: PyGILState_Release", sdk-python #300): send what is owed,
    # then leave without that shutdown.
    tracing.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    if isinstance(code, str):  # SystemExit("message"): Python prints it and exits 1
        print(code, file=sys.stderr, flush=True)
    os._exit(code if isinstance(code, int) else (0 if code is None else 1))
