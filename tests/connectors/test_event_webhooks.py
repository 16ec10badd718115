"""The signed-webhook sink against a real HTTP subscriber: CloudEvents that round-trip in both
binding modes, a signature the gateway's scheme verifies, and failures classified for Temporal."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from connectors.events.webhooks import WebhookSink
from domain.errors import InvalidRequestError, TransientError
from tests.events_samples import event
from tests.events_subscriber import Subscriber

SECRET = "whsec-test"


@pytest.fixture
async def subscriber() -> AsyncIterator[Subscriber]:
    found = Subscriber(SECRET)
    await found.up()
    try:
        yield found
    finally:
        await found.down()


@pytest.mark.parametrize("mode", ["structured", "binary"])
async def test_an_event_arrives_whole_and_signed_in_either_mode(
    subscriber: Subscriber, mode: str
) -> None:
    sink = WebhookSink("warehouse", subscriber.url, SECRET, mode=mode)  # type: ignore[arg-type]
    sent = event(3, data={"order_id": "O-1", "amount": "12.50"})
    try:
        await sink.deliver(sent)
    finally:
        await sink.close()
    [got] = subscriber.received
    assert got.event == sent  # id, source, type, subject, time, process, sequence, data
    assert got.headers["idempotency-key"] == sent.id
    expected = "application/cloudevents+json" if mode == "structured" else "application/json"
    assert got.headers["content-type"].startswith(expected)
    assert subscriber.refused == []


async def test_a_wrong_secret_is_refused_and_not_retryable(subscriber: Subscriber) -> None:
    sink = WebhookSink("warehouse", subscriber.url, "not-the-secret")
    try:
        with pytest.raises(InvalidRequestError):
            await sink.deliver(event(1))
    finally:
        await sink.close()
    assert subscriber.refused == ["BadSignature"] and subscriber.received == []


async def test_a_subscriber_down_or_failing_is_worth_retrying(subscriber: Subscriber) -> None:
    sink = WebhookSink("warehouse", subscriber.url, SECRET)
    try:
        subscriber.failing = True
        with pytest.raises(TransientError):
            await sink.deliver(event(1))
        await subscriber.down()
        with pytest.raises(TransientError) as refused:
            await sink.deliver(event(1))
        assert refused.value.code == "ConnectionError"
    finally:
        await sink.close()


def test_a_subscriber_takes_the_types_it_asked_for() -> None:
    sink = WebhookSink(
        "finance", "http://127.0.0.1:1/x", SECRET, types=["order.paid.v1", "purchase.*"]
    )
    assert sink.name == "webhook:finance"
    assert sink.wants("order.paid.v1") and sink.wants("purchase.invoice_matched.v1")
    assert not sink.wants("order.placed.v1") and not sink.wants("approval.requested.v1")
