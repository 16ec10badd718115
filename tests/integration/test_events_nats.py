"""NATS JetStream as a business-events sink, on a real nats-server: the publisher's retries
across a broker crash lose nothing and store nothing twice (counted by event id in the stream)."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import nats
import pytest
from typer.testing import CliRunner

from connectors.events.nats import MSG_ID, JetStreamSink
from continuum.events.config import Nats
from continuum.stack import Ports, Stack, StackError
from continuum.supervisor import free_port, port_in_use
from domain.errors import TransientError
from domain.events.contract import event_id
from domain.events.models import BusinessEvent
from starters.cli import app
from tests.integration.nats_broker import NatsBroker

pytestmark = pytest.mark.integration

STREAM = "TEST_EVENTS"
PREFIX = "test.events"


def order_events(order_id: str, count: int) -> list[BusinessEvent]:
    process = f"order-{order_id}"
    types = ["order.placed.v1", "order.approved.v1", "order.paid.v1", "order.shipped.v1"]
    return [
        BusinessEvent(
            id=event_id(process, seq),
            source="/continuum/orders",
            type=types[(seq - 1) % len(types)],
            subject=order_id,
            time=datetime(2026, 12, 6, 12, 0, seq % 60, tzinfo=UTC),
            process_id=process,
            sequence=seq,
            data={"order_id": order_id, "amount": "12.50", "seq": seq},
        )
        for seq in range(1, count + 1)
    ]


@pytest.fixture
async def sink(nats_broker: NatsBroker) -> AsyncIterator[JetStreamSink]:
    sink = JetStreamSink(
        nats_broker.url,
        stream=STREAM,
        subject_prefix=PREFIX,
        duplicate_window_seconds=3600,
        publish_timeout=1.0,
    )
    yield sink
    await sink.close()


async def deliver_until_accepted(sink: JetStreamSink, event: BusinessEvent) -> int:
    """What the publisher's activity does: the same event again until the broker acks it
    (Temporal retries; here a bounded loop). Returns the failed attempts."""
    failures, deadline = 0, time.monotonic() + 30
    while True:
        try:
            await sink.deliver(event)
            return failures
        except TransientError:
            failures += 1
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)


async def stored(url: str, subject_filter: str) -> list[tuple[str, dict[str, str], bytes]]:
    """Every message of the stream under the filter: (Nats-Msg-Id, headers, body), in order."""
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        info = await js.stream_info(STREAM)
        found = []
        for seq in range(info.state.first_seq, info.state.last_seq + 1):
            msg = await js.get_msg(STREAM, seq)
            if msg.subject and msg.subject.startswith(subject_filter.rstrip(">")):
                headers = dict(msg.headers or {})
                found.append((headers[MSG_ID], headers, msg.data or b""))
        return found
    finally:
        await nc.close()


async def test_a_publisher_retrying_across_a_broker_crash_loses_and_duplicates_nothing(
    nats_broker: NatsBroker, sink: JetStreamSink
) -> None:
    events = order_events("NATS-1", 12)
    for event in events[:6]:
        await sink.deliver(event)

    nats_broker.kill()
    # The broker is down: no ack, so the delivery fails as transient (Temporal retries it).
    with pytest.raises(TransientError):
        await sink.deliver(events[6])
    nats_broker.start()

    # The publisher retries its whole batch (the ack of the last ones may have been lost): the
    # six already stored come again with the same ids, then the rest.
    for event in events:
        await deliver_until_accepted(sink, event)
    # And once more after everything was acked, as a replayed activity would.
    for event in events[-3:]:
        await sink.deliver(event)

    messages = await stored(nats_broker.url, f"{PREFIX}.>")
    ids = [m[0] for m in messages if m[0].startswith("order-NATS-1/")]
    assert Counter(ids) == Counter(e.id for e in events), "each id exactly once"
    assert ids == [e.id for e in events], "in sequence order"


async def test_each_event_is_a_binary_mode_cloudevent_on_its_type_subject(
    nats_broker: NatsBroker, sink: JetStreamSink
) -> None:
    event = order_events("NATS-2", 3)[2]
    await sink.deliver(event)
    messages = await stored(nats_broker.url, f"{PREFIX}.order.paid.v1")
    (_, headers, body) = next(m for m in messages if m[0] == event.id)
    assert headers["ce-id"] == event.id
    assert headers["ce-type"] == "order.paid.v1"
    assert headers["ce-source"] == "/continuum/orders"
    assert headers["ce-subject"] == "NATS-2"
    assert headers["ce-specversion"] == "1.0"
    assert headers["ce-continuumsequence"] == "3"
    assert headers["content-type"] == "application/json"
    assert json.loads(body) == event.data

    nc = await nats.connect(nats_broker.url)
    try:
        info = await nc.jetstream().stream_info(STREAM)
    finally:
        await nc.close()
    assert info.config.duplicate_window == 3600


def events_file(tmp_path: Path, broker: NatsBroker) -> Path:
    path = tmp_path / "events.toml"
    path.write_text(
        f'[nats]\nurl = "{broker.url}"\nembedded = false\n'
        f'stream = "{STREAM}"\nsubject_prefix = "{PREFIX}"\n'
    )
    return path


def test_events_tail_prints_one_line_per_event_filtered_by_type_and_subject(
    nats_broker: NatsBroker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The events the tests above stored: NATS-1 (12), NATS-2 (one order.paid.v1).
    monkeypatch.setenv("EVENTS_CONFIG_FILE", str(events_file(tmp_path, nats_broker)))
    args = ["events", "tail", "--from-start", "--idle", "1"]
    answer = CliRunner().invoke(app, [*args, "--type", "order.paid.*", "--subject", "NATS-1"])
    assert answer.exit_code == 0, answer.output
    lines = answer.output.splitlines()
    paid = [e for e in order_events("NATS-1", 12) if e.type == "order.paid.v1"]
    assert lines == [
        f"{e.time.isoformat().replace('+00:00', 'Z')}  order.paid.v1  NATS-1  {e.id}" for e in paid
    ]


def test_events_tail_without_a_broker_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    off = tmp_path / "off.toml"
    off.write_text("# no broker\n")
    monkeypatch.setenv("EVENTS_CONFIG_FILE", str(off))
    answer = CliRunner().invoke(app, ["events", "tail"])
    assert answer.exit_code == 1
    assert "no broker is configured" in answer.output
    assert str(off) in " ".join(answer.output.split())


def test_the_stack_starts_its_embedded_nats_server_and_stops_it(tmp_path: Path) -> None:
    port = free_port()
    stack = Stack(tmp_path, Ports(), nats=Nats(url=f"nats://127.0.0.1:{port}"))
    proc = stack.start_nats()
    try:
        assert port_in_use(port)
        # `continuum up` refuses to start over a taken port, the broker's included.
        with pytest.raises(StackError, match=f"{port} \\(NATS\\)"):
            stack.check_ports()
    finally:
        stack.stop()
    assert not proc.alive()
    assert (tmp_path / "nats" / "jetstream").is_dir()


async def test_a_broker_down_from_the_start_fails_the_delivery_as_transient_at_once() -> None:
    sink = JetStreamSink(
        f"nats://127.0.0.1:{free_port()}",
        stream=STREAM,
        subject_prefix=PREFIX,
        duplicate_window_seconds=3600,
    )
    started = time.monotonic()
    with pytest.raises(TransientError, match="cannot reach"):
        await sink.deliver(order_events("NATS-3", 1)[0])
    assert time.monotonic() - started < 10  # not nats-py's endless first-connection retries
    await sink.close()


def test_events_tail_with_the_broker_down_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    down = tmp_path / "down.toml"
    down.write_text(f'[nats]\nurl = "nats://127.0.0.1:{free_port()}"\n')
    monkeypatch.setenv("EVENTS_CONFIG_FILE", str(down))
    answer = CliRunner().invoke(app, ["events", "tail"])
    assert answer.exit_code == 1
    assert "cannot reach the NATS server" in answer.output
