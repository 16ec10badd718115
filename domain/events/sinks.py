"""Where business events go: one port, an adapter per destination (connectors/events/)."""

from __future__ import annotations

from collections.abc import Iterable
from fnmatch import fnmatchcase
from typing import Protocol

from domain.events.models import BusinessEvent


class EventSink(Protocol):
    """One destination: a signed-webhook subscriber, NATS JetStream, Kafka (experimental).

    `deliver` sends one event, already stripped or encrypted for delivery, and returns when the
    destination has accepted it. It raises `domain.errors.TransientError` when the destination
    may accept it later (down, timeout, 5xx: the publisher's activity retries) and
    `InvalidRequestError` when it never will (4xx other than 408/429). A sink must be safe to
    call again with the same event: the id is the de-duplication key (JetStream's
    `Nats-Msg-Id`, the subscriber's `ce-id`).
    """

    @property
    def name(self) -> str: ...

    def wants(self, event_type: str) -> bool:
        """Whether this sink takes events of this type (a subscriber's filter)."""
        ...

    async def deliver(self, event: BusinessEvent) -> None: ...

    async def close(self) -> None: ...


def type_matches(event_type: str, patterns: Iterable[str]) -> bool:
    """Whether a type is among a filter's patterns ("order.*", "purchase.paid.v1", "*")."""
    return any(fnmatchcase(event_type, pattern) for pattern in patterns)
