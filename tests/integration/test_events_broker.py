"""The broker's way in, on a real nats-server and the session's real stack: a signed event on
`continuum.inbound.<source>` reaches the order exactly as the same webhook would (one mapping),
once even when the consumer dies between Temporal taking it and the broker's ack; what cannot be
applied is dead-lettered with the reason, listed and re-driven as the incident console does."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import nats
import pytest
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from temporalio.api.enums.v1 import EventType

from continuum.client import connect
from continuum.defaults import WEBHOOKS
from continuum.events.broker import ensure_inbound, list_dead_letters, redrive
from continuum.events.config import Nats
from continuum.order_client import OrderClient
from continuum.settings import ORDERS_TASK_QUEUE, get_settings
from continuum.stack import Stack
from domain.orders.models import OrderStatus
from services.gateway.broker import BrokerConsumer, Outcome
from services.gateway.events import EventMap, load_secrets
from services.gateway.inbound import Inbound
from services.gateway.receipts import Receipts
from services.gateway.signatures import HEADER, sign
from services.gateway.temporal import Temporal
from tests import samples
from tests.integration.nats_broker import NatsBroker

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def stack(shared_stack: Stack) -> Stack:
    """The session's stack: orders and events with ids of their own (its gateway consumes no
    broker: the suite's events configuration has none; the consumer runs in this process)."""
    return shared_stack


@pytest.fixture(scope="module")
def broker_config(nats_broker: NatsBroker) -> Nats:
    # A short ack wait: a message the consumer did not ack comes again within the test.
    return Nats(url=nats_broker.url, embedded=False, ack_wait_seconds=2)


@pytest.fixture
async def orders(stack: Stack) -> AsyncIterator[OrderClient]:
    client = await connect(stack.temporal_address, stack.data_converter())
    yield OrderClient(client, ORDERS_TASK_QUEUE)


@pytest.fixture(scope="module")
def secrets(stack: Stack) -> dict[str, str]:
    return load_secrets(EventMap.load(WEBHOOKS), stack.client_env())


@pytest.fixture
async def inbound(stack: Stack, secrets: dict[str, str], tmp_path: Path) -> Inbound:
    """The gateway's mapping, in this process, with a receipts store of its own."""
    temporal = Temporal(stack.temporal_address, ORDERS_TASK_QUEUE)
    await temporal.connect()
    settings = get_settings()
    return Inbound(
        EventMap.load(WEBHOOKS),
        secrets,
        Receipts(tmp_path / "receipts.db"),
        temporal,
        settings.approval_policy(),
        settings.delivery_deadline_hours,
    )


class Recording(BrokerConsumer):
    """The production consumer, noting each outcome."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.outcomes: list[tuple[str, Outcome]] = []

    async def handle(self, js: JetStreamContext, msg: Msg) -> Outcome:
        outcome = await super().handle(js, msg)
        event_id = json.loads(msg.data).get("id", "?") if _json(msg) else "?"
        self.outcomes.append((event_id, outcome))
        return outcome


def _json(msg: Msg) -> bool:
    try:
        return isinstance(json.loads(msg.data), dict)
    except ValueError:
        return False


async def running(consumer: BrokerConsumer) -> asyncio.Task[None]:
    task = asyncio.create_task(consumer.run())
    await asyncio.wait_for(consumer.ready.wait(), 15)
    return task


async def stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def publish(config: Nats, source: str, body: bytes, headers: dict[str, str]) -> None:
    """As a sender would, once the gateway made the inbound stream (made here if not yet)."""
    nc = await nats.connect(config.url)
    try:
        js = nc.jetstream()
        await ensure_inbound(js, config)
        await js.publish(f"continuum.inbound.{source}", body, headers=headers)
    finally:
        await nc.close()


def signed(secret: str, envelope: dict[str, Any] | bytes) -> tuple[bytes, dict[str, str]]:
    body = envelope if isinstance(envelope, bytes) else json.dumps(envelope).encode()
    return body, {HEADER: sign(secret, body, int(time.time()))}


def delivered(order_id: str, event_id: str) -> dict[str, Any]:
    return {"id": event_id, "type": "shipment-delivered", "data": {"order_id": order_id}}


T = TypeVar("T")


async def until(check: Callable[[], Awaitable[T | None]], within: float = 30) -> T:
    deadline = time.monotonic() + within
    while (found := await check()) is None or found is False:
        if time.monotonic() > deadline:
            raise AssertionError("not within the bound")
        await asyncio.sleep(0.1)
    return found


async def wait_status(orders: OrderClient, order_id: str, status: OrderStatus) -> None:
    async def reached() -> bool | None:
        return (await orders.status(order_id)).status is status or None

    await until(reached, 60)


async def signals(orders: OrderClient, order_id: str, name: str) -> int:
    history = await orders.handle(order_id).fetch_history()
    return sum(
        1
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED
        and e.workflow_execution_signaled_event_attributes.signal_name == name
    )


async def test_a_delivery_is_applied_once_when_the_consumer_dies_before_its_ack(
    nats_broker: NatsBroker,
    broker_config: Nats,
    inbound: Inbound,
    orders: OrderClient,
    secrets: dict[str, str],
) -> None:
    order = samples.order()
    await orders.start(order)
    await wait_status(orders, order.order_id, OrderStatus.AWAITING_DELIVERY)
    event = delivered(order.order_id, f"NATS-{order.order_id}")
    await publish(broker_config, "carrier", *signed(secrets["carrier"], event))

    # The first consumer takes it to Temporal, then dies before its ack reaches the broker.
    class DiesBeforeAck(Recording):
        died = asyncio.Event()

        async def ack(self, msg: Msg) -> None:
            self.died.set()
            raise asyncio.CancelledError  # the process is gone: no ack is ever sent

    first = DiesBeforeAck(inbound, broker_config)
    task = asyncio.create_task(first.run())
    await asyncio.wait_for(DiesBeforeAck.died.wait(), 30)
    await stop(task)
    result = await orders.result(order.order_id)
    assert result.status is OrderStatus.COMPLETED
    assert await signals(orders, order.order_id, "delivered") == 1

    # The next consumer gets it again (not acked) and acks it without applying it twice.
    second = Recording(inbound, broker_config)
    task = await running(second)
    try:
        await until(lambda: _outcome(second, event["id"]))
    finally:
        await stop(task)
    assert second.outcomes == [(event["id"], Outcome.DUPLICATE)]
    assert await signals(orders, order.order_id, "delivered") == 1
    assert [s.step for s in result.steps].count("delivered") == 1
    nc = await nats.connect(nats_broker.url)
    try:
        info = await nc.jetstream().consumer_info(
            broker_config.inbound_stream, broker_config.consumer
        )
    finally:
        await nc.close()
    assert info.num_ack_pending == 0 and info.num_pending == 0


async def _outcome(
    consumer: Recording, event_id: str, wanted: Outcome | None = None
) -> Outcome | None:
    return next((o for i, o in consumer.outcomes if i == event_id and wanted in (None, o)), None)


async def test_what_cannot_be_applied_is_dead_lettered_with_the_reason_and_can_be_redriven(
    nats_broker: NatsBroker,
    broker_config: Nats,
    inbound: Inbound,
    orders: OrderClient,
    secrets: dict[str, str],
) -> None:
    order = samples.order()
    tag = order.order_id
    malformed = signed(secrets["carrier"], b"{not json")
    unsigned: tuple[bytes, dict[str, str]] = (json.dumps(delivered(tag, f"U-{tag}")).encode(), {})
    forged = signed("not-the-secret", delivered(tag, f"F-{tag}"))
    unknown_source = signed(secrets["carrier"], delivered(tag, f"S-{tag}"))
    early = signed(secrets["carrier"], delivered(tag, f"E-{tag}"))  # before the order exists

    consumer = Recording(inbound, broker_config)
    task = await running(consumer)
    try:
        for source, (body, headers) in [
            ("carrier", malformed),
            ("carrier", unsigned),
            ("carrier", forged),
            ("nobody", unknown_source),
            ("carrier", early),
        ]:
            await publish(broker_config, source, body, headers)

        async def five() -> list[Any] | None:
            letters = await list_dead_letters(broker_config)
            mine = [d for d in letters if tag in d.body.decode() or d.body == malformed[0]]
            return mine if len(mine) >= 5 else None

        letters = {d.code: d for d in await until(five)}
        assert set(letters) == {
            "MalformedEvent",
            "MissingSignature",
            "BadSignature",
            "UnknownSource",
            "UnknownWorkflow",
        }
        assert letters["MalformedEvent"].reason == "body: not valid JSON"
        assert (
            letters["UnknownWorkflow"].reason == f"no workflow order-{tag}: order {tag} is unknown"
        )
        assert letters["UnknownSource"].subject == "continuum.inbound.nobody"
        assert letters["UnknownWorkflow"].event_id == f"E-{tag}"

        # The order starts after all; the operator re-drives its delivery, which now applies.
        await orders.start(order)
        await wait_status(orders, tag, OrderStatus.AWAITING_DELIVERY)
        again = await redrive(broker_config, letters["UnknownWorkflow"].sequence, "ops")
        assert again.event_id == f"E-{tag}"
        assert (await orders.result(tag)).status is OrderStatus.COMPLETED
        await until(lambda: _outcome(consumer, f"E-{tag}", Outcome.APPLIED))
    finally:
        await stop(task)
    remaining = {d.sequence for d in await list_dead_letters(broker_config)}
    assert letters["UnknownWorkflow"].sequence not in remaining
    assert letters["MalformedEvent"].sequence in remaining
