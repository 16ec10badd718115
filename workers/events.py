"""`python -m workers.events`: the events worker. The EventPublisher workflows and their
deliveries on their own task queue (`continuum-events`) in their own process, so that a slow
subscriber never takes a slot from the order workers.

The events configuration (EVENTS_CONFIG_FILE, continuum/defaults/events.toml) is read first: a
bad file, a subscriber whose secret variable is not set, or `encrypt` without a codec key stops
the start in one line, and nothing runs. `continuum up` starts it when events are configured.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from temporalio.client import Client
from temporalio.worker import Worker

from activities.events.delivery import EventDelivery
from connectors.events.field_cipher import FieldCipher
from connectors.events.webhooks import WebhookSink
from continuum.client import connect
from continuum.codec import CodecError, load_keyring
from continuum.converter import worker_data_converter
from continuum.events.config import EventsConfig, EventsConfigError
from continuum.logs import setup_logging
from continuum.settings import Settings, get_settings
from domain.events.contract import TASK_QUEUE
from domain.events.privacy import Encrypt
from domain.events.sinks import EventSink
from workers.broker_sinks import broker_sinks
from workers.connectors import ConfigurationError
from workers.process import run_worker, stop_on_signals
from workflows.events_publisher import EventPublisher
from workflows.policies import STICKY_QUEUE_TIMEOUT

log = logging.getLogger("continuum.events")

EVENT_WORKFLOWS: Sequence[type] = [EventPublisher]


def events_config(settings: Settings) -> EventsConfig:
    try:
        return settings.events_config()
    except EventsConfigError as err:
        raise ConfigurationError(str(err)) from None


def events_enabled(settings: Settings) -> bool:
    """Whether processes hand their events over (the hand-over's flag, workers/registry.py)."""
    return events_config(settings).enabled


def webhook_sinks(
    config: EventsConfig, environ: Mapping[str, str], http_timeout: float = 10.0
) -> list[WebhookSink]:
    missing = [s for s in config.subscribers if not environ.get(s.secret_env, "").strip()]
    if missing:
        names = ", ".join(f"{s.secret_env} ({s.name})" for s in missing)
        raise ConfigurationError(f"set the webhook secret of each subscriber: {names}")
    return [
        WebhookSink(
            s.name,
            str(s.url),
            environ[s.secret_env].strip(),
            s.types,
            s.mode,
            http_timeout=http_timeout,
        )
        for s in config.subscribers
    ]


def build_sinks(
    config: EventsConfig, environ: Mapping[str, str], http_timeout: float = 10.0
) -> list[EventSink]:
    return [*webhook_sinks(config, environ, http_timeout), *broker_sinks(config)]


def field_encryption(config: EventsConfig, environ: Mapping[str, str]) -> Encrypt | None:
    """With `[privacy] mode = "encrypt"`: the codec's newest key encrypts personal fields."""
    if config.privacy.mode != "encrypt":
        return None
    try:
        keyring = load_keyring(environ)
    except CodecError as err:
        raise ConfigurationError(f"events privacy mode 'encrypt': {err}") from None
    newest = keyring.newest
    if newest is None:
        raise ConfigurationError(
            "events privacy mode 'encrypt' needs a codec key (CONTINUUM_CODEC_KEYS or a key file)"
        )
    return FieldCipher(newest, keyring.keys[newest]).encrypt


def build_events_worker(
    client: Client,
    config: EventsConfig,
    sinks: Sequence[EventSink],
    encrypt: Encrypt | None = None,
    task_queue: str = TASK_QUEUE,
    **tuning: Any,
) -> Worker:
    tuning.setdefault("sticky_queue_schedule_to_start_timeout", STICKY_QUEUE_TIMEOUT)
    delivery = EventDelivery(sinks, config.privacy, encrypt)
    return Worker(
        client,
        task_queue=task_queue,
        workflows=list(EVENT_WORKFLOWS),
        activities=delivery.all(),
        **tuning,
    )


async def serve(environ: Mapping[str, str]) -> None:
    settings = get_settings()
    config = events_config(settings)
    sinks = build_sinks(config, environ, settings.http_timeout_seconds)
    encrypt = field_encryption(config, environ)
    client = await connect(converter=worker_data_converter())
    worker = build_events_worker(
        client,
        config,
        sinks,
        encrypt,
        graceful_shutdown_timeout=timedelta(seconds=settings.graceful_shutdown_seconds),
    )
    stop = stop_on_signals()
    try:
        async with worker:
            log.info(
                "events worker ready on task queue %s (sinks: %s; personal fields: %s)",
                TASK_QUEUE,
                ", ".join(sink.name for sink in sinks) or "none",
                config.privacy.mode,
            )
            await stop.wait()
            log.info("stopping the events worker")
    finally:
        for sink in sinks:
            await sink.close()
    log.info("events worker stopped")


def main() -> None:
    setup_logging()
    run_worker(lambda: serve(os.environ), log, "events worker", (ConfigurationError,))


if __name__ == "__main__":
    main()
