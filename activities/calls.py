"""Run external calls inside an activity: heartbeat while they take long, translate errors.

Connectors raise `domain.errors.IntegrationError`; here that becomes an `ApplicationError`
that Temporal understands: retryable or not, with `Retry-After` as the next retry delay.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import TypeVar

from temporalio import activity
from temporalio.exceptions import ApplicationError

from domain.errors import IntegrationError

T = TypeVar("T")

# Calls shorter than this send no heartbeat at all; longer ones heartbeat this often, so a
# dead worker is noticed within the heartbeat timeout instead of the start-to-close timeout.
HEARTBEAT_EVERY = 1.0


def to_application_error(err: IntegrationError) -> ApplicationError:
    delay = timedelta(seconds=err.retry_after) if err.retry_after else None
    return ApplicationError(
        err.message,
        {"system": err.system, "code": err.code, "status": err.status},
        type=err.code,
        non_retryable=not err.retryable,
        next_retry_delay=delay,
    )


@contextlib.asynccontextmanager
async def heartbeating(details: Callable[[], object] | None = None) -> AsyncIterator[None]:
    """Heartbeats every `HEARTBEAT_EVERY` while the body runs, with `details()` as they are
    then (what a retried attempt resumes from), or with none.

    A timer on the loop, not a task: every external call runs inside one, and most end long
    before the first beat, so a task created and cancelled per call was pure overhead."""
    loop = asyncio.get_running_loop()
    timer: asyncio.TimerHandle

    def beat() -> None:
        nonlocal timer
        if details is None:
            activity.heartbeat()
        else:
            activity.heartbeat(details())
        timer = loop.call_later(HEARTBEAT_EVERY, beat)

    timer = loop.call_later(HEARTBEAT_EVERY, beat)
    try:
        yield
    finally:
        timer.cancel()


async def translated(work: Awaitable[T]) -> T:
    """`work`, its `IntegrationError` as the `ApplicationError` Temporal retries by."""
    try:
        return await work
    except IntegrationError as err:
        raise to_application_error(err) from err


async def call(work: Awaitable[T]) -> T:
    async with heartbeating():
        return await translated(work)
