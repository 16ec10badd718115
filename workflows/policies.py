"""Activity timeouts and retry policies, in one place.

Retries belong to Temporal: connectors never retry. Reads and writes retry with backoff for
a bounded time (an ERP outage of minutes delays orders, it does not fail them); undo steps
retry without limit, because a compensation that gives up would leave money or stock stranded.
A worker that dies mid-call is noticed through heartbeats within `HEARTBEAT`.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio.common import RetryPolicy

HEARTBEAT = timedelta(seconds=5)
# A worker that dies leaves its cached workflows' next tasks on its own (sticky) queue: they move
# to the shared queue after this instead of the SDK's 10 s (time to recover, `continuum drill`).
STICKY_QUEUE_TIMEOUT = timedelta(seconds=3)

_BACKOFF = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
)

READ: dict[str, Any] = {
    "start_to_close_timeout": timedelta(seconds=60),
    "heartbeat_timeout": HEARTBEAT,
    "schedule_to_close_timeout": timedelta(hours=1),
    "retry_policy": _BACKOFF,
}

WRITE: dict[str, Any] = {
    "start_to_close_timeout": timedelta(seconds=60),
    "heartbeat_timeout": HEARTBEAT,
    "schedule_to_close_timeout": timedelta(hours=24),
    "retry_policy": _BACKOFF,
}

# Telling people (reminders, escalations) must not hold up the approval's own clock: a
# notification that cannot be delivered within minutes is logged and given up.
NOTIFY: dict[str, Any] = {
    "start_to_close_timeout": timedelta(seconds=30),
    "schedule_to_close_timeout": timedelta(minutes=10),
    "retry_policy": _BACKOFF,
}

UNDO: dict[str, Any] = {
    "start_to_close_timeout": timedelta(seconds=60),
    "heartbeat_timeout": HEARTBEAT,
    "retry_policy": RetryPolicy(
        initial_interval=timedelta(seconds=1),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(minutes=5),
    ),
}
