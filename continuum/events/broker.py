"""The broker side of business events, shared by the gateway's consumer, the incident console
and `continuum events tail`: the inbound and dead-letter streams, the dead-letter format, and
reading the event stream.

A dead letter is the inbound message as it came (body and headers unchanged, so a re-drive is
byte for byte the original and its signature still verifies) plus headers saying why:

    Continuum-Dead-Code: UnknownWorkflow
    Continuum-Dead-Reason: no workflow order-O-9: order O-9 is unknown
    Continuum-Dead-Subject: continuum.inbound.carrier     (where it came from; re-drive target)
    Continuum-Dead-Sequence: 42                           (its sequence in the inbound stream)
    Continuum-Dead-At: 2026-12-07T00:01:02+00:00

on `<dead_letter_subject>.<source>`, `Nats-Msg-Id: dead-<inbound sequence>` (a message
dead-lettered twice, by a consumer that died before its ack, is kept once).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext
from nats.js.api import DeliverPolicy, StorageType, StreamConfig

from continuum.events.config import DEFAULT_FILE, EventsConfig, Nats, load_events_config
from domain.events.sinks import type_matches
from store.incidents import IncidentAudit, dead_letter_ref

log = logging.getLogger("continuum.events.broker")

CONFIG_ENV = "EVENTS_CONFIG_FILE"
MSG_ID = "Nats-Msg-Id"
DEAD_CODE = "Continuum-Dead-Code"
DEAD_REASON = "Continuum-Dead-Reason"
DEAD_SUBJECT = "Continuum-Dead-Subject"
DEAD_SEQUENCE = "Continuum-Dead-Sequence"
DEAD_AT = "Continuum-Dead-At"
REDRIVEN_BY = "Continuum-Redriven-By"  # on a re-driven message: who put it back
_DEAD_HEADERS = (DEAD_CODE, DEAD_REASON, DEAD_SUBJECT, DEAD_SEQUENCE, DEAD_AT, MSG_ID, REDRIVEN_BY)
CONNECT_TIMEOUT = 2.0
DAY = 86_400


class BrokerError(RuntimeError):
    """The broker is not configured, not reachable, or refused: one line for the operator."""


def events_config(environ: Mapping[str, str] | None = None) -> EventsConfig:
    """The events configuration EVENTS_CONFIG_FILE names (else the shipped one)."""
    env = os.environ if environ is None else environ
    return load_events_config(Path(env.get(CONFIG_ENV) or DEFAULT_FILE))


def configured_nats(environ: Mapping[str, str] | None = None) -> Nats:
    """The [nats] section, or a BrokerError saying that none is configured."""
    env = os.environ if environ is None else environ
    config = events_config(env)
    if config.nats is None:
        where = env.get(CONFIG_ENV) or str(DEFAULT_FILE)
        raise BrokerError(f"no broker is configured: {where} has no [nats] section")
    return config.nats


async def _quiet(err: Exception) -> None:
    """nats-py's default error callback prints a traceback per failed reconnect attempt."""
    log.debug("nats: %r", err)


async def connect(url: str, *, reconnect: bool = False) -> NatsClient:
    """Connected, or a BrokerError at once when nothing answers (nats-py, told to reconnect,
    would also retry the first connection for ever). With `reconnect`, a connection that drops
    later is made again, without end."""
    options: dict[str, Any] = {"connect_timeout": CONNECT_TIMEOUT, "error_cb": _quiet}
    try:
        nc = await nats.connect(
            url, allow_reconnect=False, max_reconnect_attempts=1, reconnect_time_wait=0.2, **options
        )
        if reconnect:
            await nc.close()
            nc = await nats.connect(
                url,
                allow_reconnect=True,
                max_reconnect_attempts=-1,
                reconnect_time_wait=0.5,
                **options,
            )
        return nc
    except (OSError, nats.errors.Error, TimeoutError) as err:
        raise BrokerError(
            f"cannot reach the NATS server at {url} ({type(err).__name__}); is it running? "
            "(`make run` starts it when [nats] embedded = true)"
        ) from None


async def ensure_stream(js: JetStreamContext, name: str, subject: str, config: Nats) -> None:
    """The stream exists (made with file storage, the configured age and duplicate window)."""
    try:
        await js.stream_info(name)
    except nats.js.errors.NotFoundError:
        await js.add_stream(
            StreamConfig(
                name=name,
                subjects=[f"{subject}.>"],
                storage=StorageType.FILE,
                max_age=float(config.max_age_days * DAY),
                duplicate_window=float(config.duplicate_window_seconds),
            )
        )


async def ensure_inbound(js: JetStreamContext, config: Nats) -> None:
    await ensure_stream(js, config.inbound_stream, config.inbound_subject_prefix, config)
    await ensure_stream(js, config.dead_letter_stream, config.dead_letter_subject, config)


def _one_line(text: str, limit: int = 500) -> str:
    return " ".join(text.split())[:limit]


def dead_letter(
    config: Nats,
    subject: str,
    headers: Mapping[str, str],
    sequence: int,
    code: str,
    reason: str,
    now: datetime,
) -> tuple[str, dict[str, str]]:
    """The dead-letter subject and headers for the inbound message `subject` #`sequence`."""
    source = subject.removeprefix(config.inbound_subject_prefix + ".") or "unknown"
    kept = {k: v for k, v in headers.items() if k not in _DEAD_HEADERS}
    return f"{config.dead_letter_subject}.{source}", {
        **kept,
        DEAD_CODE: _one_line(code, 100),
        DEAD_REASON: _one_line(reason),
        DEAD_SUBJECT: subject,
        DEAD_SEQUENCE: str(sequence),
        DEAD_AT: now.isoformat(timespec="seconds"),
        MSG_ID: f"dead-{sequence}",
    }


@dataclass(frozen=True)
class DeadLetter:
    sequence: int  # in the dead-letter stream: what `redrive` takes
    source: str
    code: str
    reason: str
    subject: str  # where it came from
    at: str
    event_id: str | None
    event_type: str | None
    body: bytes

    @property
    def what(self) -> str:
        """`payment.captured E-1 from payments`: the event, as far as it could be read."""
        return f"{self.event_type or '?'} {self.event_id or '?'} from {self.source}"

    @property
    def why(self) -> str:
        return f"{self.code}: {self.reason}"


def _read_dead(sequence: int, subject: str, headers: Mapping[str, str], body: bytes) -> DeadLetter:
    event_id = event_type = None
    try:
        envelope = json.loads(body)
        if isinstance(envelope, dict):
            event_id = str(envelope.get("id")) if envelope.get("id") is not None else None
            event_type = str(envelope.get("type")) if envelope.get("type") is not None else None
    except ValueError:
        pass
    return DeadLetter(
        sequence=sequence,
        source=subject.rsplit(".", 1)[-1],
        code=headers.get(DEAD_CODE, "?"),
        reason=headers.get(DEAD_REASON, ""),
        subject=headers.get(DEAD_SUBJECT, ""),
        at=headers.get(DEAD_AT, ""),
        event_id=event_id,
        event_type=event_type,
        body=body,
    )


async def list_dead_letters(config: Nats, limit: int = 200) -> list[DeadLetter]:
    """The dead letters still waiting, oldest first (at most `limit`)."""
    nc = await connect(config.url)
    try:
        js = nc.jetstream(timeout=5)
        try:
            info = await js.stream_info(config.dead_letter_stream)
        except nats.js.errors.NotFoundError:
            return []
        found: list[DeadLetter] = []
        sequence = info.state.first_seq
        while sequence <= info.state.last_seq and len(found) < limit:
            try:
                msg = await js.get_msg(config.dead_letter_stream, sequence)
            except nats.js.errors.NotFoundError:  # re-driven (deleted)
                sequence += 1
                continue
            found.append(
                _read_dead(sequence, msg.subject or "", dict(msg.headers or {}), msg.data or b"")
            )
            sequence += 1
        return found
    except (nats.errors.Error, TimeoutError) as err:
        raise BrokerError(f"cannot read the dead letters ({err!r})") from None
    finally:
        await nc.close()


async def redrive(config: Nats, sequence: int, by: str) -> DeadLetter:
    """The dead letter #`sequence` back to its inbound subject as it came, then removed from
    the dead letters. Published first, removed after: a crash in between re-drives it once more
    at worst, and the gateway's receipts apply an event once."""
    nc = await connect(config.url)
    try:
        js = nc.jetstream(timeout=5)
        try:
            msg = await js.get_msg(config.dead_letter_stream, sequence)
        except nats.js.errors.NotFoundError:
            raise BrokerError(f"no dead letter #{sequence} (re-driven already?)") from None
        headers = dict(msg.headers or {})
        letter = _read_dead(sequence, msg.subject or "", headers, msg.data or b"")
        if not letter.subject.startswith(config.inbound_subject_prefix + "."):
            raise BrokerError(f"dead letter #{sequence} names no inbound subject to re-drive to")
        original = {k: v for k, v in headers.items() if k not in _DEAD_HEADERS}
        original[MSG_ID] = f"redrive-{sequence}"
        original[REDRIVEN_BY] = _one_line(by, 100)
        await js.publish(letter.subject, letter.body, headers=original)
        await js.delete_msg(config.dead_letter_stream, sequence)
        return letter
    except (nats.errors.Error, TimeoutError) as err:
        raise BrokerError(f"cannot re-drive dead letter #{sequence} ({err!r})") from None
    finally:
        await nc.close()


async def redrive_audited(config: Nats, sequence: int, by: str, audit: IncidentAudit) -> DeadLetter:
    """`redrive`, kept in the incident audit either way: `redriven` (what, where to, why it had
    been set aside) or `refused` with the BrokerError, which is raised on."""
    try:
        letter = await redrive(config, sequence, by)
    except BrokerError as err:
        await asyncio.to_thread(audit.refused, dead_letter_ref(sequence), by, str(err), "redrive")
        raise
    where = f"{letter.what} → {letter.subject}"
    await asyncio.to_thread(audit.redriven, sequence, by, where, letter.why)
    return letter


@dataclass(frozen=True)
class Tailed:
    """One business event as `continuum events tail` prints it."""

    time: str
    type: str
    subject: str
    id: str
    source: str


def _attribute(headers: Mapping[str, str], name: str) -> str:
    return unquote(headers.get(f"ce-{name}", ""))


async def tail(
    config: Nats,
    *,
    types: tuple[str, ...] = (),
    subject: str | None = None,
    since_start: bool = False,
    idle_timeout: float | None = None,
) -> AsyncIterator[Tailed]:
    """Follows the event stream from now on (or from its start), filtered by type patterns
    (`order.*`, `order.paid.v1`) and business subject; ends after `idle_timeout` seconds
    without a message (None: never)."""
    nc = await connect(config.url, reconnect=True)
    try:
        js = nc.jetstream(timeout=5)
        try:
            await js.stream_info(config.stream)
        except nats.js.errors.NotFoundError:
            raise BrokerError(
                f"the stream {config.stream} does not exist yet: nothing was published"
            ) from None
        policy = DeliverPolicy.ALL if since_start else DeliverPolicy.NEW
        sub = await js.subscribe(
            f"{config.subject_prefix}.>",
            stream=config.stream,
            ordered_consumer=True,
            deliver_policy=policy,
        )
        while True:
            try:
                msg = await sub.next_msg(timeout=idle_timeout if idle_timeout else 3600)
            except nats.errors.TimeoutError:
                if idle_timeout:
                    return
                continue
            headers = dict(msg.headers or {})
            event = Tailed(
                time=_attribute(headers, "time"),
                type=_attribute(headers, "type"),
                subject=_attribute(headers, "subject"),
                id=_attribute(headers, "id"),
                source=_attribute(headers, "source"),
            )
            if types and not type_matches(event.type, types):
                continue
            if subject is not None and event.subject != subject:
                continue
            yield event
    finally:
        await nc.close()


def now() -> datetime:
    return datetime.now(UTC)
