"""The broker sinks the events configuration names: NATS JetStream (`[nats]`) and, experimental,
Kafka (`[kafka]`); the events worker (workers/events.py) adds them to the webhook subscribers."""

from __future__ import annotations

from connectors.events.kafka import KafkaSink
from connectors.events.nats import JetStreamSink
from continuum.events.config import EventsConfig
from domain.events.sinks import EventSink

DAY = 86_400


def broker_sinks(config: EventsConfig) -> list[EventSink]:
    sinks: list[EventSink] = []
    if (nats := config.nats) is not None:
        sinks.append(
            JetStreamSink(
                nats.url,
                stream=nats.stream,
                subject_prefix=nats.subject_prefix,
                duplicate_window_seconds=nats.duplicate_window_seconds,
                max_age_seconds=nats.max_age_days * DAY,
            )
        )
    if (kafka := config.kafka) is not None:
        sinks.append(
            KafkaSink(kafka.bootstrap_servers, topic=kafka.topic, client_id=kafka.client_id)
        )
    return sinks
