"""`continuum incidents dead-letters` and `continuum incidents redrive N... --by NAME`: the
broker's inbound events the gateway could not apply (malformed, unsigned, unknown source or
order, refused by the workflow), each with its reason, and putting one back once its cause is
fixed (the order exists now, the sender's secret was corrected...).

A re-drive publishes the message as it came to its inbound subject (so its signature still
verifies), marked with who re-drove it, then removes the dead letter; the gateway's receipts
apply an event once however often it comes. Every re-drive is in the incident audit.
"""

from __future__ import annotations

import asyncio
import json
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from continuum.events.broker import (
    BrokerError,
    DeadLetter,
    configured_nats,
    list_dead_letters,
    redrive_audited,
)
from continuum.events.config import EventsConfigError
from starters.console import console, fail
from starters.incidents_cli import open_audit


def _letters(limit: int) -> list[DeadLetter]:
    try:
        return asyncio.run(list_dead_letters(configured_nats(), limit))
    except (BrokerError, EventsConfigError) as err:
        raise fail(escape(str(err))) from None


def dead_letters(
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 200,
    as_json: Annotated[bool, typer.Option("--json", help="JSON on standard output.")] = False,
) -> None:
    """The broker's events the gateway could not apply, oldest first, with the reason."""
    letters = _letters(limit)
    if as_json:
        rows = [
            {k: v for k, v in vars(d).items() if k != "body"}
            | {"body": d.body.decode(errors="replace")}
            for d in letters
        ]
        print(json.dumps(rows, indent=2))
        return
    table = Table(title=f"dead letters · {len(letters)}", title_justify="left")
    for column in ("#", "when", "source", "event", "type", "code", "reason"):
        table.add_column(column, overflow="fold")
    for d in letters:
        cells = (str(d.sequence), d.at, d.source, d.event_id or "", d.event_type or "", d.code)
        table.add_row(*(escape(c) for c in (*cells, d.reason)))
    console.print(table)


def redrive_command(
    sequences: Annotated[list[int], typer.Argument(help="Dead letters (#) to put back.")],
    by: Annotated[str, typer.Option("--by", help="Who re-drives them (kept on the message).")],
) -> None:
    """Put dead letters back on their inbound subject: the gateway applies them again. Each
    re-drive, and each refused one, is kept in the incident audit (`continuum incidents audit`)."""
    try:
        config = configured_nats()
    except (BrokerError, EventsConfigError) as err:
        raise fail(escape(str(err))) from None
    audit = open_audit()  # before anything moves: a re-drive nobody could audit is not made
    for sequence in sequences:
        try:
            letter = asyncio.run(redrive_audited(config, sequence, by, audit))
        except BrokerError as err:
            raise fail(escape(str(err))) from None
        console.print(f"re-drove #{sequence}: {escape(letter.what)} → {escape(letter.subject)}")
