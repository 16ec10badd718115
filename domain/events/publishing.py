"""What a publisher does with the events it receives, pure: keep each process's sequence once,
hand each sink the events it has not had yet in the order received, forget an event once every
sink has it.

A publisher serves a shard of processes. Each event received gets the next offset; a process's
events arrive in its sequence order, so a sink taking events by offset has each process's
events in order. Each sink is a lane of its own: a sink that is down holds back its own lane
only, and the events it has not had stay here (carried across continue-as-new) until it takes
them.
"""

from __future__ import annotations

from datetime import datetime

from domain.events import contract
from domain.events.models import BusinessEvent, EventBatch, PublisherState

# Events per delivery activity: one call delivers a sink's backlog in order (one POST or one
# broker publish each), across the shard's processes; a sink back after an outage catches up
# 100 at a time.
BATCH = 100
# Processes whose last sequence a publisher remembers, to drop a repeated hand-over (a retried
# local activity repeats within seconds). A process forgotten and handed over again has its
# events delivered again under the same ids, which subscribers drop. Bounds the carried state.
REMEMBER = 2_000


def accept(state: PublisherState, batch: EventBatch) -> int:
    """Takes the batch's new sequences; a sequence already received (a retried or replayed
    hand-over) is dropped. Returns how many were new."""
    new = 0
    for event in sorted(batch.events, key=lambda e: e.sequence):
        if event.sequence <= state.seen.get(event.process_id, 0):
            state.duplicates += 1
            continue
        state.seen.pop(event.process_id, None)  # re-inserted: the most recent last
        state.seen[event.process_id] = event.sequence
        state.pending.append(event)
        state.last_offset += 1
        state.received += 1
        new += 1
    for process in list(state.seen)[: max(0, len(state.seen) - REMEMBER)]:
        del state.seen[process]
    return new


def _floor(state: PublisherState) -> int:
    """The offset just before the first event still held (a new lane starts after it)."""
    return state.last_offset - len(state.pending)


def open_lanes(state: PublisherState, sinks: list[str]) -> None:
    """The lanes of this run: the configured sinks. A new sink starts with what is still held;
    a sink no longer configured loses its lane (and what it had not had yet)."""
    floor = _floor(state)
    state.lanes = {name: state.lanes.get(name, floor) for name in sinks}
    forget_delivered(state)


def due(state: PublisherState, sink: str, limit: int = BATCH) -> tuple[int, list[BusinessEvent]]:
    """The next events for `sink`, in the order received, and the offset of the first."""
    first = state.lanes[sink] + 1
    start = first - _floor(state) - 1
    return first, state.pending[start : start + limit]


def advance(state: PublisherState, sink: str, through: int) -> None:
    if sink in state.lanes:
        state.lanes[sink] = max(state.lanes[sink], through)
    forget_delivered(state)


def close_lane(state: PublisherState, sink: str) -> None:
    state.lanes.pop(sink, None)
    forget_delivered(state)


def forget_delivered(state: PublisherState) -> None:
    """Drops what every lane has had (everything, when there is no lane at all)."""
    everyone_has = min(state.lanes.values(), default=state.last_offset)
    state.pending = state.pending[max(0, everyone_has - _floor(state)) :]


def caught_up(state: PublisherState) -> bool:
    return not state.pending


def status(state: PublisherState) -> tuple[str, datetime | None]:
    """ProcessStatus and StateSince: Delivering since the oldest event a sink still waits for
    (the watchdog's lag), or Idle."""
    if state.pending:
        return contract.DELIVERING, state.pending[0].time
    return contract.IDLE, None
