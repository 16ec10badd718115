"""Activity timeouts and retry policies, in one place, typed.

Retries belong to Temporal: connectors never retry. Reads and writes retry with backoff for
a bounded time (an ERP outage of minutes delays orders, it does not fail them); undo steps
retry without limit, because a compensation that gives up would leave money or stock stranded.
A worker that dies mid-call is noticed through heartbeats within `HEARTBEAT`.

Each policy is an `ActivityOptions` (a TypedDict), spread into `workflow.execute_activity_method`
with `**`, so mypy checks every key and value against the SDK's own parameters.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TypedDict

from temporalio.common import RetryPolicy


class ActivityOptions(TypedDict, total=False):
    start_to_close_timeout: timedelta
    schedule_to_close_timeout: timedelta
    heartbeat_timeout: timedelta
    retry_policy: RetryPolicy


HEARTBEAT = timedelta(seconds=5)
# A worker that dies leaves its cached workflows' next tasks on its own (sticky) queue: they move
# to the shared queue after this instead of the SDK's 10 s (time to recover, `continuum drill`).
STICKY_QUEUE_TIMEOUT = timedelta(seconds=3)

_BACKOFF = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
)

READ = ActivityOptions(
    start_to_close_timeout=timedelta(seconds=60),
    heartbeat_timeout=HEARTBEAT,
    schedule_to_close_timeout=timedelta(hours=1),
    retry_policy=_BACKOFF,
)

WRITE = ActivityOptions(
    start_to_close_timeout=timedelta(seconds=60),
    heartbeat_timeout=HEARTBEAT,
    schedule_to_close_timeout=timedelta(hours=24),
    retry_policy=_BACKOFF,
)

# Telling people (reminders, escalations) must not hold up the approval's own clock: a
# notification that cannot be delivered within minutes is logged and given up.
NOTIFY = ActivityOptions(
    start_to_close_timeout=timedelta(seconds=30),
    schedule_to_close_timeout=timedelta(minutes=10),
    retry_policy=_BACKOFF,
)

UNDO = ActivityOptions(
    start_to_close_timeout=timedelta(seconds=60),
    heartbeat_timeout=HEARTBEAT,
    retry_policy=RetryPolicy(
        initial_interval=timedelta(seconds=1),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(minutes=5),
    ),
)

# A sync page retries for as long as it takes (a CRM out for an hour delays the sync, it does
# not fail it), honouring Retry-After; a dead worker is noticed within the heartbeat timeout.
SYNC_PAGE = ActivityOptions(
    start_to_close_timeout=timedelta(minutes=5),
    heartbeat_timeout=timedelta(seconds=10),
    retry_policy=_BACKOFF,
)

# A few quick attempts: a report that waits an hour for a system is late for everyone else.
REPORT_STEP = ActivityOptions(
    start_to_close_timeout=timedelta(minutes=2),
    retry_policy=RetryPolicy(
        initial_interval=timedelta(seconds=1),
        maximum_interval=timedelta(seconds=10),
        maximum_attempts=4,
    ),
)

# An alert's page to one receiver: retried with backoff for half an hour (a repeat or the next
# level pages again after that); each receiver is its own activity, so one failing channel
# never holds back another or the next level. Bad configuration is not retried (non_retryable).
ALERT_DELIVERY = ActivityOptions(
    start_to_close_timeout=timedelta(seconds=30),
    schedule_to_close_timeout=timedelta(minutes=30),
    retry_policy=RetryPolicy(
        initial_interval=timedelta(seconds=2),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(minutes=2),
    ),
)

# An incident repair's step (act on one process, look at processes again): Temporal answers in
# milliseconds, the quarantine's re-drive in minutes; an unreachable Temporal is waited out for
# an hour, then the item is reported as failed.
REPAIR_STEP = ActivityOptions(
    # The steps heartbeat while they run (a re-drive waits for its workflow): a step lost with a
    # crashed ops worker is tried again within the heartbeat timeout, not minutes later (the job
    # is to outlive its worker).
    start_to_close_timeout=timedelta(minutes=10),
    heartbeat_timeout=HEARTBEAT,
    schedule_to_close_timeout=timedelta(hours=1),
    retry_policy=_BACKOFF,
)

# The incident audit's rows: an apply that happened must be on record, so a store that is down
# is retried for a day (each row carries a key: a repeat adds nothing).
AUDIT_WRITE = ActivityOptions(
    start_to_close_timeout=timedelta(seconds=60),
    schedule_to_close_timeout=timedelta(hours=24),
    retry_policy=_BACKOFF,
)

# The watchdog judges every minute: a step that cannot finish within the minute is given up (the
# next run judges afresh) rather than piling up behind the schedule.
WATCHDOG_STEP = ActivityOptions(
    start_to_close_timeout=timedelta(seconds=45),
    schedule_to_close_timeout=timedelta(seconds=55),
    retry_policy=RetryPolicy(
        initial_interval=timedelta(seconds=1),
        maximum_interval=timedelta(seconds=5),
        maximum_attempts=3,
    ),
)
