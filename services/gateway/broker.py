"""The broker's way in: a durable JetStream pull consumer that applies other systems' events
(shipment delivered, payment captured, order cancelled...) exactly as the webhooks do, through
the same mapping (`Inbound.apply`: source, signature, envelope, receipts, then Temporal).

A message on `<inbound prefix>.<source>` carries what `POST /events/<source>` would: the JSON
envelope `{"id", "type", "data"}` as the body (a structured-mode CloudEvent is one too) and the
`X-Continuum-Signature` header signed with the source's secret. Per message:
- Temporal took it → ack (only then: a consumer that dies before acks gets it again, and the
  receipts answer "already accepted", so it is acked without being applied twice);
- already accepted → ack;
- Temporal away, or the same event in flight elsewhere → nak with a delay (delivered again);
- anything else (malformed, unsigned, unknown source or order, refused by the workflow) → a dead
  letter with the reason (continuum/events/broker.py), then ack. `continuum incidents
  dead-letters` lists them and `continuum incidents redrive N` puts one back.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from enum import StrEnum

import nats.errors
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig

from continuum.events.broker import connect, dead_letter, ensure_inbound, now
from continuum.events.config import Nats
from services.gateway.errors import GatewayError
from services.gateway.inbound import Inbound
from services.gateway.signatures import HEADER

log = logging.getLogger("services.gateway.broker")

DAY = 86_400
FETCH_TIMEOUT = 5.0
RETRY_DELAY = 5.0  # a nak'ed message comes again after this
RECONNECT_DELAY = 2.0  # after the broker went away
# Temporal did not take it, or another consumer is applying it right now: try again later.
_LATER = {"TemporalUnavailable", "TemporalError", "EventInFlight"}


class Outcome(StrEnum):
    APPLIED = "applied"
    DUPLICATE = "duplicate"  # applied before (a redelivery): acked, not applied again
    LATER = "later"  # nak'ed, comes again
    DEAD = "dead"  # dead-lettered with the reason, then acked


def _header(headers: Mapping[str, str] | None, name: str) -> str | None:
    for key, value in (headers or {}).items():
        if key.lower() == name.lower():
            return value
    return None


class BrokerConsumer:
    def __init__(
        self,
        inbound: Inbound,
        config: Nats,
        *,
        batch: int = 16,
        clock: Callable[[], datetime] = now,
    ) -> None:
        self.inbound = inbound
        self.config = config
        self.batch = batch
        self.clock = clock
        self.ready = asyncio.Event()  # set once the consumer is subscribed

    @property
    def prefix(self) -> str:
        return self.config.inbound_subject_prefix

    async def run(self) -> None:
        """Until cancelled; a broker that goes away is reached again (the gateway keeps serving
        webhooks meanwhile)."""
        while True:
            try:
                await self._consume()
            except asyncio.CancelledError:
                raise
            except Exception as err:
                self.ready.clear()
                log.warning("broker consumer stopped (%s); reconnecting", err)
                await asyncio.sleep(RECONNECT_DELAY)

    async def _consume(self) -> None:
        nc = await connect(self.config.url, reconnect=True)
        try:
            js = nc.jetstream(timeout=10)
            await ensure_inbound(js, self.config)
            sub = await js.pull_subscribe(
                f"{self.prefix}.>",
                durable=self.config.consumer,
                stream=self.config.inbound_stream,
                config=ConsumerConfig(
                    ack_policy=AckPolicy.EXPLICIT,
                    ack_wait=float(self.config.ack_wait_seconds),
                    max_deliver=-1,  # what cannot be applied is dead-lettered, not dropped
                ),
            )
            self.ready.set()
            log.info("consuming %s.> as %s", self.prefix, self.config.consumer)
            while True:
                try:
                    messages = await sub.fetch(self.batch, timeout=FETCH_TIMEOUT)
                except nats.errors.TimeoutError:
                    continue
                for msg in messages:
                    await self.handle(js, msg)
        finally:
            await nc.close()

    async def handle(self, js: JetStreamContext, msg: Msg) -> Outcome:
        source = msg.subject.removeprefix(self.prefix + ".")
        # A message may wait in the stream as long as the stream keeps it.
        window = self.config.max_age_days * DAY
        try:
            await self.inbound.apply(
                source, _header(msg.headers, HEADER), msg.data, replay_window=window
            )
        except GatewayError as err:
            if err.code == "DuplicateEvent":
                await self.ack(msg)
                return Outcome.DUPLICATE
            if err.code in _LATER:
                log.warning("%s: %s; delivered again in %ss", msg.subject, err.message, RETRY_DELAY)
                await msg.nak(delay=RETRY_DELAY)
                return Outcome.LATER
            await self.dead_letter(js, msg, err.code, err.message)
            return Outcome.DEAD
        except Exception as err:  # the store failed: not applied, so try again later
            log.warning("%s: %r; delivered again in %ss", msg.subject, err, RETRY_DELAY)
            await msg.nak(delay=RETRY_DELAY)
            return Outcome.LATER
        await self.ack(msg)
        return Outcome.APPLIED

    async def dead_letter(self, js: JetStreamContext, msg: Msg, code: str, reason: str) -> None:
        """Stored in the dead-letter stream first, acked after: a crash in between keeps it
        (the dead letter's Nats-Msg-Id is the inbound sequence, so it is stored once)."""
        sequence = msg.metadata.sequence.stream
        subject, headers = dead_letter(
            self.config, msg.subject, dict(msg.headers or {}), sequence, code, reason, self.clock()
        )
        await js.publish(subject, msg.data, headers=headers)
        log.warning("dead letter #%s from %s: %s: %s", sequence, msg.subject, code, reason)
        await self.ack(msg)

    async def ack(self, msg: Msg) -> None:
        """Only after Temporal took the event (or it was dead-lettered)."""
        await msg.ack_sync()
