"""Business events into NATS JetStream: one stream, one subject per event type, JetStream's
message-id de-duplication keyed by the event's id.

Each event is a CloudEvent in binary content mode (the CloudEvents NATS binding): attributes in
`ce-*` headers, `content-type: application/json`, the data as the body; `Nats-Msg-Id` is the
event's id, so a delivery the publisher retries (no ack seen, broker restarted) is stored once
as long as the stream's duplicate window covers the publisher's retry horizon. A publish that
gets no ack raises TransientError and the publisher's activity retries it; no retry here.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable

import nats
import nats.errors
import nats.js.errors
from cloudevents.core.bindings.http import to_binary_event
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext
from nats.js.api import StorageType, StreamConfig

from connectors.events.cloudevent import to_cloudevent
from domain.errors import InvalidRequestError, TransientError
from domain.events.models import BusinessEvent
from domain.events.sinks import type_matches

SYSTEM = "nats"
MSG_ID = "Nats-Msg-Id"
CONNECT_TIMEOUT = 2.0
PUBLISH_TIMEOUT = 5.0


def subject_for(prefix: str, event_type: str) -> str:
    """`continuum.events.order.paid.v1`: a consumer filters with `continuum.events.order.>`."""
    return f"{prefix}.{event_type}"


def binary_message(event: BusinessEvent) -> tuple[dict[str, str], bytes]:
    """The event's NATS headers (`ce-*`, content-type, Nats-Msg-Id) and body."""
    message = to_binary_event(to_cloudevent(event))
    return {**message.headers, MSG_ID: event.id}, message.body


class JetStreamSink:
    """The EventSink for NATS JetStream (domain.events.sinks). It makes (or widens) its stream
    on first use: subjects `<prefix>.>`, file storage, the duplicate window given."""

    def __init__(
        self,
        url: str,
        *,
        stream: str,
        subject_prefix: str,
        duplicate_window_seconds: float,
        max_age_seconds: float = 0,
        types: tuple[str, ...] = ("*",),
        name: str = "nats",
        publish_timeout: float = PUBLISH_TIMEOUT,
    ) -> None:
        self.url = url
        self.stream = stream
        self.subject_prefix = subject_prefix
        self.duplicate_window = float(duplicate_window_seconds)
        self.max_age = float(max_age_seconds)
        self.types = types
        self._name = name
        self.publish_timeout = publish_timeout
        self._nc: NatsClient | None = None
        self._js: JetStreamContext | None = None
        self._lock = asyncio.Lock()

    @property
    def name(self) -> str:
        return self._name

    def wants(self, event_type: str) -> bool:
        return type_matches(event_type, self.types)

    async def _jetstream(self) -> JetStreamContext:
        async with self._lock:
            if self._js is not None and self._nc is not None and not self._nc.is_closed:
                return self._js
            try:
                # First without reconnecting: a broker that is down fails this attempt at once
                # (told to reconnect, nats-py would retry the first connection for ever).
                probe = await nats.connect(
                    self.url,
                    connect_timeout=CONNECT_TIMEOUT,
                    allow_reconnect=False,
                    # nats-py gives up on a server after this many failed attempts (0: never).
                    max_reconnect_attempts=1,
                    reconnect_time_wait=0.2,
                    error_cb=_quiet,
                )
                await probe.close()
                nc = await nats.connect(
                    self.url,
                    connect_timeout=CONNECT_TIMEOUT,
                    max_reconnect_attempts=-1,
                    reconnect_time_wait=0.5,
                    allow_reconnect=True,
                    error_cb=_quiet,
                )
            except (OSError, nats.errors.Error, TimeoutError) as err:
                raise TransientError(
                    SYSTEM, "Unreachable", f"cannot reach {self.url}: {err!r}"
                ) from None
            js = nc.jetstream(timeout=self.publish_timeout)
            try:
                await self._ensure_stream(js)
            except BaseException:
                await nc.close()
                raise
            self._nc, self._js = nc, js
            return js

    async def _ensure_stream(self, js: JetStreamContext) -> None:
        wanted = StreamConfig(
            name=self.stream,
            subjects=[f"{self.subject_prefix}.>"],
            storage=StorageType.FILE,
            duplicate_window=self.duplicate_window,
            max_age=self.max_age,
        )
        try:
            info = await js.stream_info(self.stream)
        except nats.js.errors.NotFoundError:
            await _api(js.add_stream(wanted), "cannot create the stream")
            return
        except (nats.errors.Error, TimeoutError) as err:
            raise TransientError(
                SYSTEM, "Unavailable", f"JetStream did not answer: {err!r}"
            ) from None
        have = info.config
        if (have.duplicate_window or 0) < self.duplicate_window:
            # Never narrow a window someone widened; widen one that is too short.
            have.duplicate_window = self.duplicate_window
            await _api(js.update_stream(have), "cannot widen the duplicate window")

    async def deliver(self, event: BusinessEvent) -> None:
        js = await self._jetstream()
        headers, body = binary_message(event)
        subject = subject_for(self.subject_prefix, event.type)
        try:
            ack = await js.publish(subject, body, headers=headers, timeout=self.publish_timeout)
        except nats.js.errors.BadRequestError as err:
            raise InvalidRequestError(SYSTEM, "Refused", f"{subject}: {err.description}") from None
        except (nats.errors.Error, TimeoutError, OSError) as err:
            # No ack: stored or not, the retry carries the same Nats-Msg-Id.
            raise TransientError(
                SYSTEM, "NoAck", f"no ack for {event.id} on {subject}: {err!r}"
            ) from None
        if ack.stream != self.stream:
            raise InvalidRequestError(
                SYSTEM, "WrongStream", f"{subject} is stored by {ack.stream}, not {self.stream}"
            )

    async def close(self) -> None:
        nc, self._nc, self._js = self._nc, None, None
        if nc is not None and not nc.is_closed:
            with contextlib.suppress(nats.errors.Error, TimeoutError, OSError):
                await nc.drain()


async def _quiet(err: Exception) -> None:
    """nats-py's default error callback prints a traceback per failed reconnect attempt; the
    failure that matters reaches the caller as TransientError."""


async def _api(call: Awaitable[object], what: str) -> None:
    try:
        await call
    except nats.js.errors.BadRequestError as err:
        raise InvalidRequestError(SYSTEM, "StreamConfig", f"{what}: {err.description}") from None
    except (nats.errors.Error, TimeoutError) as err:
        raise TransientError(SYSTEM, "Unavailable", f"{what}: {err!r}") from None
