"""The EXPERIMENTAL Kafka sink against the contract only (no Kafka broker runs here): the
message it builds is a binary-mode CloudEvent that the CloudEvents Kafka binding reads back as
the same event, keyed by the subject; errors are classified as the EventSink port says; and the
real aiokafka client, given no broker, fails as transient (the publisher retries)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from aiokafka.errors import (  # type: ignore[import-untyped]
    KafkaConnectionError,
    NotLeaderForPartitionError,
    RecordTooLargeError,
)
from cloudevents.core.bindings.kafka import from_binary
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent

from connectors.events.cloudevent import from_cloudevent
from connectors.events.kafka import KafkaSink, Producer, kafka_message
from continuum.supervisor import free_port
from domain.errors import InvalidRequestError, TransientError
from domain.events.models import BusinessEvent

EVENT = BusinessEvent(
    id="order-K-1/3",
    source="/continuum/orders",
    type="order.paid.v1",
    subject="K-1",
    time=datetime(2026, 12, 6, 12, 0, 3, tzinfo=UTC),
    process_id="order-K-1",
    sequence=3,
    data={"order_id": "K-1", "amount": "12.50", "currency": "EUR"},
)


class Recorded:
    """A stand-in for AIOKafkaProducer that records what the sink hands it."""

    def __init__(self, fail_with: Exception | None = None) -> None:
        self.sent: list[dict[str, Any]] = []
        self.fail_with = fail_with
        self.started = self.stopped = 0

    async def start(self) -> None:
        self.started += 1

    async def stop(self) -> None:
        self.stopped += 1

    async def send_and_wait(
        self,
        topic: str,
        value: bytes | None = None,
        key: bytes | None = None,
        partition: int | None = None,
        timestamp_ms: int | None = None,
        headers: list[tuple[str, bytes]] | None = None,
    ) -> None:
        if self.fail_with is not None:
            raise self.fail_with
        self.sent.append({"topic": topic, "value": value, "key": key, "headers": headers})


def sink_with(producer: Recorded) -> KafkaSink:
    def factory(servers: str, client_id: str) -> Producer:
        return producer

    return KafkaSink("kafka:9092", topic="continuum.events", producer_factory=factory)


def test_the_message_is_a_binary_mode_cloudevent_keyed_by_subject() -> None:
    message = kafka_message(EVENT)
    assert message.key == "K-1"
    assert message.headers["ce_id"] == b"order-K-1/3"
    assert message.headers["ce_type"] == b"order.paid.v1"
    assert message.headers["ce_specversion"] == b"1.0"
    assert message.headers["content-type"] == b"application/json"
    cloud = from_binary(message, JSONFormat())
    assert isinstance(cloud, CloudEvent)
    assert from_cloudevent(cloud) == EVENT


async def test_deliver_sends_headers_key_and_value_to_the_topic() -> None:
    producer = Recorded()
    sink = sink_with(producer)
    await sink.deliver(EVENT)
    await sink.deliver(EVENT)
    await sink.close()
    assert producer.started == 1 and producer.stopped == 1
    sent = producer.sent[0]
    assert sent["topic"] == "continuum.events"
    assert sent["key"] == b"K-1"
    assert ("ce_id", b"order-K-1/3") in sent["headers"]
    assert sent["value"] == kafka_message(EVENT).value


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (NotLeaderForPartitionError(), TransientError),
        (KafkaConnectionError(), TransientError),
        (RecordTooLargeError(), InvalidRequestError),
    ],
)
async def test_errors_are_classified_for_the_publisher(error: Exception, kind: type) -> None:
    sink = sink_with(Recorded(fail_with=error))
    with pytest.raises(kind):
        await sink.deliver(EVENT)


async def test_the_real_client_without_a_broker_fails_as_transient() -> None:
    sink = KafkaSink(f"127.0.0.1:{free_port()}", topic="continuum.events")
    with pytest.raises(TransientError):
        await sink.deliver(EVENT)
    await sink.close()
