"""Business events as a process hands them over, for the events tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from domain.events import contract
from domain.events.models import BusinessEvent, EventBatch

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def event(
    sequence: int,
    process_id: str = "order-O-1",
    type: str = "order.placed.v1",
    subject: str = "O-1",
    data: dict[str, Any] | None = None,
) -> BusinessEvent:
    return BusinessEvent(
        id=contract.event_id(process_id, sequence),
        source="/continuum/orders",
        type=type,
        subject=subject,
        time=T0 + timedelta(seconds=sequence),
        process_id=process_id,
        sequence=sequence,
        data=data if data is not None else {"order_id": subject, "step": sequence},
    )


def batch(*sequences: int, process_id: str = "order-O-1", subject: str = "O-1") -> EventBatch:
    return EventBatch(events=[event(s, process_id, subject=subject) for s in sequences])
