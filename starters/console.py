"""What every `continuum` command shares: its consoles, and how a failure is told.

A failure is one red line on standard error and exit code 1: an error the command expects
(bad input, an unknown id, a refusal) in its own words, Temporal out of reach with a hint.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

import typer
from rich.console import Console

console = Console()
err_console = Console(stderr=True)
T = TypeVar("T")


def fail(message: str, code: int = 1) -> typer.Exit:
    # soft_wrap: one line whatever the terminal width (the terminal folds it; a script reads one).
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def unreachable(err: RuntimeError) -> bool:
    """The SDK's words for a Temporal it cannot connect to."""
    return "Failed client connect" in str(err) or "connection" in str(err).lower()


def run(coro: Coroutine[Any, Any, T], *expected: type[Exception]) -> T:
    """Runs `coro`; an `expected` error, or Temporal out of reach, becomes `fail`."""
    try:
        return asyncio.run(coro)
    except expected as err:
        raise fail(str(err)) from None
    except RuntimeError as err:
        if unreachable(err):
            raise fail(f"cannot reach Temporal ({err}); is the stack up (`make run`)?") from None
        raise
