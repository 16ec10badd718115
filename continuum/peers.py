"""The start-up check that keeps the workers of one task queue on one configuration (issue 17).

Workers of a queue take each other's tasks: one with another ERP than its peers would book
half of the orders in a second ERP. So the first worker records a fingerprint of what must
agree (ERP backend and address, CRM address) in the store, and every later worker compares:
the same, it starts; different while a peer still polls the queue, it is refused in one
line naming both configurations. With no live peer the configuration is being changed on
purpose (every worker stopped, started with the new settings): the record follows it.

Who is alive comes from Temporal (the pollers of the queue and when each last polled), not
from the store: a SIGKILLed worker never deregisters, but its polls stop.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from temporalio.api.enums.v1 import TaskQueueKind, TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from continuum.settings import Settings
from store import Store
from store.peers import PeerRecord, WorkerPeers

log = logging.getLogger("continuum.peers")

# A worker long-polls and polls again at once: a live one was seen within the server's long
# poll (one minute). Longer than that without a poll, it is gone.
LIVE_WITHIN = timedelta(seconds=90)
_RPC_TIMEOUT = timedelta(seconds=10)


class PeerMismatch(Exception):
    """This worker's configuration is not its live peers'; the message is one line."""


@dataclass(frozen=True)
class Configuration:
    task_queue: str
    summary: str  # what people read: "ERP reference at http://…, CRM at http://…"
    fingerprint: str


def configuration(settings: Settings) -> Configuration:
    """What every worker of the queue must agree on; no secret is part of it."""
    parts = {
        "erp_backend": settings.erp_backend,
        "erp_url": settings.erp_url.rstrip("/"),
        "crm_url": settings.crm_url.rstrip("/"),
    }
    digest = hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()
    summary = f"ERP {parts['erp_backend']} at {parts['erp_url']}, CRM at {parts['crm_url']}"
    return Configuration(settings.task_queue, summary, digest)


async def live_peers(client: Client, task_queue: str, now: datetime) -> list[str]:
    """Identities of the workers that polled the queue (workflow or activity tasks) lately."""
    seen: set[str] = set()
    for queue_type in (
        TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
        TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
    ):
        answer = await client.workflow_service.describe_task_queue(
            DescribeTaskQueueRequest(
                namespace=client.namespace,
                task_queue=TaskQueue(name=task_queue, kind=TaskQueueKind.TASK_QUEUE_KIND_NORMAL),
                task_queue_type=queue_type,
                report_pollers=True,
            ),
            timeout=_RPC_TIMEOUT,
        )
        for poller in answer.pollers:
            if now - poller.last_access_time.ToDatetime(tzinfo=UTC) <= LIVE_WITHIN:
                seen.add(poller.identity)
    return sorted(seen)


async def check_peers(
    client: Client, store: Store, settings: Settings, identity: str, now: datetime | None = None
) -> str:
    """Records or confirms this worker's configuration; raises `PeerMismatch` when it differs
    from the one its live peers run with. Returns a line for the log."""
    now = now or datetime.now(UTC)
    mine = configuration(settings)
    peers = WorkerPeers(store)
    record = PeerRecord(mine.task_queue, mine.fingerprint, mine.summary, identity, now)
    # Twice at most: a worker that changes the record between our read and our write.
    for _ in range(2):
        found = peers.record(record)
        if found.fingerprint == mine.fingerprint:
            return f"configuration agrees with its peers' ({mine.summary})"
        alive = await live_peers(client, mine.task_queue, now)
        if not alive and now - found.recorded_at <= LIVE_WITHIN:
            # Recorded a moment ago by a worker that may not poll yet (two started at once).
            alive = [found.recorded_by]
        if alive:
            raise PeerMismatch(
                f"this worker's configuration differs from its peers' on task queue"
                f" {mine.task_queue}: this one has {mine.summary}, the running workers"
                f" ({', '.join(alive)}) have {found.summary} (recorded by {found.recorded_by}"
                f" at {found.recorded_at:%Y-%m-%d %H:%M:%S} UTC); start it with the same"
                f" ERP_BACKEND, ERP_URL and CRM_URL, or stop every worker of the queue to change"
                f" them (a stopped worker counts for {LIVE_WITHIN.seconds} s)"
            )
        if peers.replace(record, found.fingerprint):
            log.warning(
                "no worker polls %s: its configuration changes from %s to %s",
                mine.task_queue,
                found.summary,
                mine.summary,
            )
            return f"configuration changed to {mine.summary} (no peer was running)"
    raise PeerMismatch(
        f"the configuration of task queue {mine.task_queue} changed twice while this worker"
        f" started; start it again"
    )
