"""`continuum events tail [--type T]... [--subject S] [--from-start]`: the business events as
they reach the broker (NATS JetStream), one line each: time, type, subject, id.

It reads the stream the events configuration names (EVENTS_CONFIG_FILE, else the shipped
continuum/defaults/events.toml); with no broker configured, or none reachable, it says so in
one line and exits 1. Ctrl-C ends it.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Annotated

import typer
from rich.markup import escape

from continuum.events.broker import BrokerError, Tailed, configured_nats, tail
from continuum.events.config import EventsConfigError
from starters.console import console, fail

events_app = typer.Typer(help="Business events: follow what Continuum publishes.")


def line(event: Tailed) -> str:
    return f"{event.time}  {event.type}  {event.subject}  {event.id}"


async def _follow(
    types: tuple[str, ...], subject: str | None, from_start: bool, idle: float | None
) -> int:
    config = configured_nats()
    shown = 0
    async for event in tail(
        config, types=types, subject=subject, since_start=from_start, idle_timeout=idle
    ):
        console.print(escape(line(event)), highlight=False, soft_wrap=True)
        shown += 1
    return shown


@events_app.command("tail")
def tail_command(
    type_: Annotated[
        list[str] | None,
        typer.Option("--type", help="Event types to show (patterns: order.*, order.paid.v1)."),
    ] = None,
    subject: Annotated[
        str | None, typer.Option(help="Only this business subject (an order id, ...).")
    ] = None,
    from_start: Annotated[
        bool, typer.Option("--from-start", help="From the stream's first event, not from now.")
    ] = False,
    idle: Annotated[
        float | None,
        typer.Option(help="Stop after this many seconds without an event (default: never)."),
    ] = None,
) -> None:
    """Follow the event stream: one line per event (time, type, subject, id)."""
    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(_follow(tuple(type_ or ()), subject, from_start, idle))
    except (BrokerError, EventsConfigError) as err:
        raise fail(escape(str(err))) from None
