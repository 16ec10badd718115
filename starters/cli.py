"""`continuum`: run the embedded stack, launch the demo, and start and drive orders by hand.

Every failure prints one line saying what is wrong and exits non-zero: a bad order file,
an unknown order id, a decision on a decided order, a port already taken.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Awaitable, Callable
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from continuum.client import connect
from continuum.order_client import OrderClient, OrderError
from continuum.processes import ProcessError, python_module
from continuum.settings import get_settings
from continuum.stack import Ports, Stack, StackError
from domain.orders import OrderResult, OrderStatus
from starters.demo import run_demo, summary_table
from starters.order_file import OrderFileError, load_order

app = typer.Typer(help="Continuum: business processes that must not stop.", no_args_is_help=True)
order_app = typer.Typer(help="Start and drive one order.", no_args_is_help=True)
app.add_typer(order_app, name="order")
console = Console()
err_console = Console(stderr=True)
T = TypeVar("T")


def fail(message: str, code: int = 1) -> typer.Exit:
    err_console.print(f"[bold red]error:[/] {message}", highlight=False)
    return typer.Exit(code)


def run(coro: Awaitable[T]) -> T:
    try:
        return asyncio.run(coro)  # type: ignore[arg-type]
    except (OrderError, OrderFileError) as err:
        raise fail(str(err)) from None
    except RuntimeError as err:
        if "Failed client connect" in str(err) or "connection" in str(err).lower():
            raise fail(f"cannot reach Temporal ({err}); is the stack up (`make run`)?") from None
        raise


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


class ErpChoice(StrEnum):
    reference = "reference"
    tryton = "tryton"


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
    erp: Annotated[
        ErpChoice,
        typer.Option(
            help="The ERP: the reference ERP, or a real Tryton 8.2 (set up on first use)."
        ),
    ] = ErpChoice.reference,
) -> None:
    """Start the embedded stack (and the demo), stay up until Ctrl-C, then stop everything."""
    stack = Stack(
        data_dir.resolve(),
        Ports(temporal_port, ui_port, erp_port, crm_port),
        erp_backend=erp.value,
    )
    signal.signal(signal.SIGTERM, _interrupt)
    if erp is ErpChoice.tryton:
        first = not stack.tryton_credentials_file.exists()
        console.print(
            f"Tryton lives in {stack.tryton_dir}; "
            + (
                "setting it up for the first time (database, demo data, API user: about 50 s)…"
                if first
                else "checking its setup (a few seconds)…"
            )
        )
    try:
        with console.status(f"starting Temporal, the {erp.value} ERP, the CRM and a worker…"):
            stack.start()
    except (StackError, ProcessError, TimeoutError) as err:
        raise fail(str(err)) from None
    except KeyboardInterrupt:
        stack.stop()
        raise typer.Exit(130) from None
    try:
        _show_stack(stack)
        if demo:
            env = stack.client_env()

            async def go() -> None:
                client = OrderClient(
                    await connect(env["TEMPORAL_ADDRESS"]), get_settings().task_queue
                )
                results = await run_demo(client, console, orders)
                console.print(summary_table(results, stack.ui_url))

            run(go())
        console.print(f"\nWeb UI: [link]{stack.ui_url}[/link]   logs: {stack.data_dir / 'logs'}")
        console.print(
            "Orders waiting for approval: "
            f"{stack.ui_url}/namespaces/default/workflows?query=OrderStatus%3D%22AwaitingApproval%22"
        )
        console.print("[bold]Stack is up.[/] Press Ctrl-C to stop it.")
        while all(p.alive() for p in stack.processes.values()):
            time.sleep(0.5)
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


def _interrupt(signum: int, frame: object) -> None:
    """SIGTERM (e.g. from a supervisor) stops the stack as cleanly as Ctrl-C does."""
    raise KeyboardInterrupt


def _show_stack(stack: Stack) -> None:
    table = Table(title="Continuum embedded stack")
    table.add_column("part")
    table.add_column("where")
    table.add_row("Temporal", stack.temporal_address)
    table.add_row("Web UI", stack.ui_url)
    if stack.erp_backend == "tryton":
        table.add_row(
            "Tryton ERP", f"{stack.url('erp')}/ (credentials: {stack.tryton_credentials_file})"
        )
    else:
        table.add_row("reference ERP", f"{stack.url('erp')}/docs")
    table.add_row("reference CRM", f"{stack.url('crm')}/docs")
    table.add_row("worker", f"pid {stack.processes['worker'].pid}")
    table.add_row("data", str(stack.data_dir))
    console.print(table)


@app.command()
def demo(orders: Annotated[int, typer.Option(min=3, max=500)] = 12) -> None:
    """Launch the demo orders against a running stack."""

    async def go(client: OrderClient) -> None:
        results = await run_demo(client, console, orders)
        console.print(summary_table(results, "http://localhost:8233"))

    _with_orders(go)


@order_app.command("start")
def order_start(
    file: Annotated[Path, typer.Option("--file", "-f", help="The order as JSON.")],
    wait: Annotated[bool, typer.Option(help="Wait until the order finishes.")] = False,
) -> None:
    """Start order-to-cash for the order in FILE."""
    order = _load(file)

    async def go(client: OrderClient) -> None:
        await client.start(order)
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


def _decide(order_id: str, approve: bool, by: str, comment: str) -> None:
    state = _with_orders(lambda c: c.decide(order_id, approve, by, comment))
    console.print(
        f"order {order_id} {state.verdict.value if state.verdict else '?'} by {state.decided_by}"
    )


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


def main() -> None:
    app()
