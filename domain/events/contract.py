"""Business events' contract: what processes, the publisher and every subscriber agree on.

A process hands its events to a publisher workflow (reached by signal-with-start from a local
activity, so the order path waits for the Temporal server only, never for a subscriber). The
publisher delivers them in order to every sink (signed webhooks, NATS JetStream, experimental
Kafka) on its own task queue, so a slow subscriber never takes a slot from the order workers.

Publishers are shards: a process's events always go to the same one (so they stay in order per
subject), and one publisher serves many processes, delivering their events in batches. One
publisher per process cost the server as many history events as the order it served, and
halved the order path's throughput (BENCHMARKS.md).
"""

from __future__ import annotations

import zlib

PUBLISHER_WORKFLOW = "EventPublisher"
# Publishers run on their own queue, served by the events worker (workers/events.py).
TASK_QUEUE = "continuum-events"
# Signal EventBatch: events to deliver, in sequence order.
PUBLISH = "publish"
# Query PublisherState: what it holds, how far each sink has got.
STATE = "state"
# The publisher's activities (workers/events.py registers them): the sinks this deployment
# delivers to, asked at each run's start; one batch of events to one sink.
EVENT_SINKS = "event_sinks"
DELIVER_EVENTS = "deliver_events"
# The publisher's ProcessStatus: events wait for a sink (StateSince = the oldest one's time),
# or every sink has everything.
DELIVERING = "Delivering"
IDLE = "Idle"
# CloudEvents `specversion`.
SPEC_VERSION = "1.0"


# Publishers per events task queue. Fixed: a process must always reach the same shard (a
# change would let a process's next events overtake those still held by its former shard).
SHARDS = 8


def publisher_id(process_id: str, task_queue: str = TASK_QUEUE) -> str:
    """The shard publishing `process_id`'s events: `continuum-events-3`. Named after the
    events queue, so that publishers on another queue (a test's) never share an id."""
    return _shard(task_queue, zlib.crc32(process_id.encode()) % SHARDS)


def publisher_ids(task_queue: str = TASK_QUEUE) -> list[str]:
    """Every shard publisher of an events queue (for whoever stops or lists them all)."""
    return [_shard(task_queue, n) for n in range(SHARDS)]


def _shard(task_queue: str, n: int) -> str:
    return f"{task_queue}-{n}"


def event_id(process_id: str, sequence: int) -> str:
    """Stable per process and event sequence: a retried, replayed, reset or repaired process
    re-emits the same id (never the run id), so a consumer can drop duplicates."""
    return f"{process_id}/{sequence}"
