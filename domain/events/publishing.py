"""What a publisher does with the events it receives, pure: keep each sequence once, hand each
sink the events it has not had yet in sequence order, forget an event once every sink has it.

Each sink is a lane of its own: a sink that is down holds back its own lane only, and the
events it has not had stay here (carried across continue-as-new) until it takes them.
"""

from __future__ import annotations

from datetime import datetime

from domain.events import contract
from domain.events.models import BusinessEvent, EventBatch, PublisherState

# Events per delivery activity: one call delivers a sink's backlog in order (one POST or one
# broker publish each); a sink back after an outage catches up 100 at a time.
BATCH = 100


def accept(state: PublisherState, batch: EventBatch) -> int:
    """Takes the batch's new sequences; a sequence already received (a retried or replayed
    hand-over) is dropped. Returns how many were new."""
    new = 0
    for event in sorted(batch.events, key=lambda e: e.sequence):
        if event.sequence <= state.last_sequence:
            state.duplicates += 1
            continue
        state.pending.append(event)
        state.last_sequence = event.sequence
        state.received += 1
        new += 1
    return new


def _floor(state: PublisherState) -> int:
    """The sequence a newly opened lane starts after: just before what is still held."""
    return state.pending[0].sequence - 1 if state.pending else state.last_sequence


def open_lanes(state: PublisherState, sinks: list[str]) -> None:
    """The lanes of this run: the configured sinks. A new sink starts with what is still held;
    a sink no longer configured loses its lane (and what it had not had yet)."""
    floor = _floor(state)
    state.lanes = {name: state.lanes.get(name, floor) for name in sinks}
    forget_delivered(state)


def due(state: PublisherState, sink: str, limit: int = BATCH) -> list[BusinessEvent]:
    """The next events for `sink`, in sequence order."""
    through = state.lanes[sink]
    return [e for e in state.pending if e.sequence > through][:limit]


def advance(state: PublisherState, sink: str, through: int) -> None:
    if sink in state.lanes:
        state.lanes[sink] = max(state.lanes[sink], through)
    forget_delivered(state)


def close_lane(state: PublisherState, sink: str) -> None:
    state.lanes.pop(sink, None)
    forget_delivered(state)


def forget_delivered(state: PublisherState) -> None:
    """Drops what every lane has had (everything, when there is no lane at all)."""
    everyone_has = min(state.lanes.values(), default=state.last_sequence)
    state.pending = [e for e in state.pending if e.sequence > everyone_has]


def caught_up(state: PublisherState) -> bool:
    return not state.pending


def status(state: PublisherState) -> tuple[str, datetime | None]:
    """ProcessStatus and StateSince: Delivering since the oldest event a sink still waits for
    (the watchdog's lag), or Idle."""
    if state.pending:
        return contract.DELIVERING, state.pending[0].time
    return contract.IDLE, None
