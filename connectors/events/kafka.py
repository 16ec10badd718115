"""EXPERIMENTAL: business events into Kafka (aiokafka), CloudEvents binary content mode (the
CloudEvents Kafka binding: `ce_*` headers, `content-type`, the data as the value), the event's
`subject` (its business key) as the message key, so one order's events share a partition and
keep their order.

Tested against the contract only: the message it builds, its error classification, and a real
client failing to reach a broker. No Kafka broker runs on the machines this was built on, so it
has never delivered to one. The producer is idempotent (`enable_idempotence`, acks from all
in-sync replicas), which de-duplicates the producer's own retries within a session; it does not
de-duplicate the publisher's retries of a delivery (a new producer session), so a consumer drops
duplicates by `ce_id`, as the CloudEvents contract lets it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any, Protocol

from cloudevents.core.bindings.kafka import KafkaMessage, to_binary
from cloudevents.core.formats.json import JSONFormat

from connectors.events.cloudevent import to_cloudevent
from domain.errors import InvalidRequestError, TransientError
from domain.events.models import BusinessEvent
from domain.events.sinks import type_matches

SYSTEM = "kafka"
REQUEST_TIMEOUT_MS = 10_000


def kafka_message(event: BusinessEvent) -> KafkaMessage:
    """The event as Kafka sends it: `ce_*` headers, key = subject, value = the data (JSON)."""
    return to_binary(to_cloudevent(event), JSONFormat(), key_mapper=lambda _: event.subject)


class Producer(Protocol):
    """What this sink uses of aiokafka's AIOKafkaProducer."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def send_and_wait(
        self,
        topic: str,
        value: bytes | None = None,
        key: bytes | None = None,
        partition: int | None = None,
        timestamp_ms: int | None = None,
        headers: list[tuple[str, bytes]] | None = None,
    ) -> Any: ...


def aiokafka_producer(bootstrap_servers: str, client_id: str) -> Producer:
    from aiokafka import AIOKafkaProducer  # type: ignore[import-untyped]

    producer: Producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers,
        client_id=client_id,
        acks="all",
        enable_idempotence=True,
        request_timeout_ms=REQUEST_TIMEOUT_MS,
    )
    return producer


class KafkaSink:
    """The EventSink for Kafka (domain.events.sinks). Experimental: see the module's note."""

    def __init__(
        self,
        bootstrap_servers: str,
        *,
        topic: str,
        client_id: str = "continuum-events",
        types: tuple[str, ...] = ("*",),
        name: str = "kafka",
        producer_factory: Callable[[str, str], Producer] = aiokafka_producer,
    ) -> None:
        self.bootstrap_servers = bootstrap_servers
        self.topic = topic
        self.client_id = client_id
        self.types = types
        self._name = name
        self._factory = producer_factory
        self._producer: Producer | None = None
        self._lock = asyncio.Lock()

    @property
    def name(self) -> str:
        return self._name

    def wants(self, event_type: str) -> bool:
        return type_matches(event_type, self.types)

    async def _started(self) -> Producer:
        async with self._lock:
            if self._producer is not None:
                return self._producer
            producer = self._factory(self.bootstrap_servers, self.client_id)
            try:
                await producer.start()
            except Exception as err:
                await _quietly_stop(producer)
                raise _classified(err, f"cannot reach {self.bootstrap_servers}") from None
            self._producer = producer
            return producer

    async def deliver(self, event: BusinessEvent) -> None:
        producer = await self._started()
        message = kafka_message(event)
        key = message.key.encode() if isinstance(message.key, str) else message.key
        try:
            await producer.send_and_wait(
                self.topic, value=message.value, key=key, headers=list(message.headers.items())
            )
        except Exception as err:
            if _retriable(err):
                # The session may be broken: the next attempt starts a fresh producer.
                self._producer = None
                await _quietly_stop(producer)
            raise _classified(err, f"{event.id} to {self.topic}") from None

    async def close(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            await _quietly_stop(producer)


def _retriable(err: Exception) -> bool:
    # aiokafka's errors say themselves whether a retry may succeed; a timeout may too.
    return bool(getattr(err, "retriable", False)) or isinstance(err, (TimeoutError, OSError))


def _classified(err: Exception, what: str) -> Exception:
    name = type(err).__name__
    if _retriable(err) or name in {"KafkaTimeoutError", "KafkaConnectionError"}:
        return TransientError(SYSTEM, name, f"{what}: {err}")
    return InvalidRequestError(SYSTEM, name, f"{what}: {err}")


async def _quietly_stop(producer: Producer) -> None:
    with contextlib.suppress(Exception):  # it is being thrown away
        await producer.stop()
