"""Run one external call inside an activity: heartbeat while it takes long, translate errors.

Connectors raise `domain.errors.IntegrationError`; here that becomes an `ApplicationError`
that Temporal understands: retryable or not, with `Retry-After` as the next retry delay.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable
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


async def _heartbeat() -> None:
    while True:
        await asyncio.sleep(HEARTBEAT_EVERY)
        activity.heartbeat()


async def call(work: Awaitable[T]) -> T:
    beat = asyncio.create_task(_heartbeat())
    try:
        return await work
    except IntegrationError as err:
        raise to_application_error(err) from err
    finally:
        beat.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await beat
