"""The release tests' helpers: a CLI run against a stack, and waits on a condition."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Awaitable, Callable, Mapping

from continuum.order_client import OrderClient
from continuum.stack import Stack
from domain.orders.models import OrderStatus
from tests.waits import until

CLI = [sys.executable, "-m", "starters"]


def cli(
    stack: Stack | None, *args: str, env: Mapping[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, **(stack.client_env() if stack else {}), "COLUMNS": "250", **(env or {})}
    return subprocess.run([*CLI, *args], capture_output=True, text=True, env=full, timeout=timeout)


async def eventually(check: Callable[[], Awaitable[bool]], within: float, what: str) -> None:
    await until(check, what, within, every=0.2)


async def wait_status(
    orders: OrderClient, order_id: str, status: OrderStatus, within: float = 90
) -> None:
    seen: list[OrderStatus] = []

    async def reached() -> bool:
        seen.append((await orders.status(order_id)).status)
        return seen[-1] is status

    try:
        await eventually(reached, within, f"order {order_id} to be {status.value}")
    except AssertionError as err:
        # What the order was doing instead: its last status and the steps it was retrying.
        raw = (await orders.handle(order_id).describe()).raw_description
        pending = [
            f"{p.activity_type.name} attempt {p.attempt}: {p.last_failure.message or '-'}"
            for p in raw.pending_activities
        ]
        last = seen[-1].value if seen else "no answer"
        raise AssertionError(f"{err}; it was {last}, pending: {pending or 'nothing'}") from None
