"""The gateway over HTTP on the real stack: signed events reach the order's workflow; every
refused event gets its 4xx JSON and leaves the workflow's history as it was."""

from __future__ import annotations

import asyncio
import json
import re
import sqlite3
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from temporalio.api.enums.v1 import EventType

from continuum.client import connect
from continuum.order_client import OrderClient
from continuum.settings import ORDERS_TASK_QUEUE
from continuum.stack import Stack
from domain.orders.models import OrderStatus
from services.gateway.signatures import HEADER, sign
from tests import samples

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def gateway_stack(shared_stack: Stack) -> Stack:
    """The session's stack (`shared_stack`): orders and events with ids of their own."""
    return shared_stack


@pytest.fixture
async def orders(gateway_stack: Stack) -> AsyncIterator[OrderClient]:
    client = await connect(gateway_stack.temporal_address, gateway_stack.data_converter())
    yield OrderClient(client, ORDERS_TASK_QUEUE)


def post(
    stack: Stack,
    source: str,
    event: dict[str, Any] | bytes,
    *,
    secret: str | None = None,
    timestamp: int | None = None,
    signature: str | None = None,
) -> httpx.Response:
    body = event if isinstance(event, bytes) else json.dumps(event).encode()
    if signature is None:
        key = secret or stack.client_env().get(f"WEBHOOK_SECRET_{source.upper()}", "none")
        signature = sign(key, body, int(time.time()) if timestamp is None else timestamp)
    return httpx.post(
        f"{stack.url('gateway')}/events/{source}",
        content=body,
        headers={HEADER: signature, "Content-Type": "application/json"},
        timeout=30,
    )


def delivered(order_id: str, event_id: str) -> dict[str, Any]:
    return {
        "id": event_id,
        "type": "shipment-delivered",
        "data": {"order_id": order_id, "carrier": "DHL"},
    }


def error(answer: httpx.Response) -> tuple[int, str, str]:
    body = answer.json()["error"]
    return answer.status_code, body["code"], body["message"]


async def wait_status(
    orders: OrderClient, order_id: str, status: OrderStatus, within: float = 60
) -> None:
    deadline = time.monotonic() + within
    while (current := (await orders.status(order_id)).status) is not status:
        if time.monotonic() > deadline or current.is_terminal:
            raise AssertionError(f"{order_id} is {current}, not {status}")
        await asyncio.sleep(0.1)


async def history_length(orders: OrderClient, order_id: str) -> int:
    return len((await orders.handle(order_id).fetch_history()).events)


async def waiting_history_length(orders: OrderClient, order_id: str) -> int:
    """Once the order waits for its delivery: the status says so while the workflow task that
    set it is still open; its commands (the deadline timer among them) land with its end."""
    deadline = time.monotonic() + 15
    while True:
        events = (await orders.handle(order_id).fetch_history()).events
        if any(e.event_type == EventType.EVENT_TYPE_TIMER_STARTED for e in events):
            return len(events)
        assert time.monotonic() < deadline, "the order never started its delivery timer"
        await asyncio.sleep(0.05)


def receipts(stack: Stack, event_id: str) -> list[tuple[str, str]]:
    with sqlite3.connect(stack.data_dir / "continuum.db") as db:
        rows = db.execute(
            "SELECT source, state FROM webhook_receipts WHERE event_id = ?", (event_id,)
        ).fetchall()
    return [(r[0], r[1]) for r in rows]


async def test_a_signed_delivery_reaches_the_order_once(
    gateway_stack: Stack, orders: OrderClient
) -> None:
    order = samples.order()
    await orders.start(order)
    await wait_status(orders, order.order_id, OrderStatus.AWAITING_DELIVERY)

    event = delivered(order.order_id, f"E-{order.order_id}")
    answer = post(gateway_stack, "carrier", event)
    assert answer.status_code == 202, answer.text
    assert answer.json()["workflow_id"] == f"order-{order.order_id}"
    result = await orders.result(order.order_id)
    assert result.status is OrderStatus.COMPLETED
    assert ("delivered", "by DHL") in [(s.step, s.detail) for s in result.steps]
    assert receipts(gateway_stack, event["id"]) == [("carrier", "accepted")]

    # The same event again, validly signed a moment later: refused, not applied twice.
    before = await history_length(orders, order.order_id)
    status, code, message = error(post(gateway_stack, "carrier", event))
    assert (status, code) == (409, "DuplicateEvent")
    assert event["id"] in message
    assert await history_length(orders, order.order_id) == before


async def test_refused_events_change_nothing(gateway_stack: Stack, orders: OrderClient) -> None:
    order = samples.order()
    await orders.start(order)
    await wait_status(orders, order.order_id, OrderStatus.AWAITING_DELIVERY)
    before = await waiting_history_length(orders, order.order_id)
    event = delivered(order.order_id, f"E-refused-{order.order_id}")
    body = json.dumps(event).encode()
    secret = gateway_stack.client_env()["WEBHOOK_SECRET_CARRIER"]

    refusals = {
        "bad signature": post(gateway_stack, "carrier", event, secret="not-the-secret"),
        "another source's secret": post(
            gateway_stack,
            "carrier",
            event,
            secret=gateway_stack.client_env()["WEBHOOK_SECRET_SHOP"],
        ),
        "no signature": post(gateway_stack, "carrier", event, signature=""),
        "stale": post(gateway_stack, "carrier", event, timestamp=int(time.time()) - 3600),
        "unknown source": post(gateway_stack, "nosuchsource", event, secret=secret),
        "not JSON": post(gateway_stack, "carrier", body[:-5]),
        "no order id": post(gateway_stack, "carrier", {**event, "data": {"carrier": "DHL"}}),
        "unknown type": post(gateway_stack, "carrier", {**event, "type": "parcel-lost"}),
    }
    found = {what: error(answer) for what, answer in refusals.items()}
    assert found["bad signature"][:2] == (401, "BadSignature")
    assert found["another source's secret"][:2] == (401, "BadSignature")
    assert found["no signature"][:2] == (401, "MissingSignature")
    assert found["stale"][:2] == (401, "StaleTimestamp")
    assert "replay window" in found["stale"][2]
    assert found["unknown source"][:2] == (404, "UnknownSource")
    assert "nosuchsource" in found["unknown source"][2]
    assert found["not JSON"][:2] == (422, "MalformedEvent")
    assert "not valid JSON" in found["not JSON"][2]
    assert found["no order id"][:2] == (422, "MalformedEvent")
    assert "data.order_id" in found["no order id"][2]
    assert found["unknown type"][:2] == (422, "UnknownEventType")
    assert "shipment-delivered" in found["unknown type"][2]

    # An event for an order nobody started: 404, and its id is not used up.
    ghost = delivered("NO-SUCH-ORDER", f"E-ghost-{order.order_id}")
    assert error(post(gateway_stack, "carrier", ghost))[:2] == (404, "UnknownWorkflow")
    assert receipts(gateway_stack, ghost["id"]) == []
    assert receipts(gateway_stack, event["id"]) == []

    assert await history_length(orders, order.order_id) == before
    assert (await orders.status(order.order_id)).status is OrderStatus.AWAITING_DELIVERY

    # The refused event itself, now signed properly, still goes through: nothing was used up.
    assert post(gateway_stack, "carrier", event).status_code == 202
    assert (await orders.result(order.order_id)).status is OrderStatus.COMPLETED


async def test_cancellation_is_an_update_whose_refusal_is_a_409(
    gateway_stack: Stack, orders: OrderClient
) -> None:
    order = samples.order()
    await orders.start(order)
    await wait_status(orders, order.order_id, OrderStatus.AWAITING_DELIVERY)

    def cancel(event_id: str, by: str) -> httpx.Response:
        data = {"order_id": order.order_id, "requested_by": by, "reason": "customer called"}
        return post(
            gateway_stack, "shop", {"id": event_id, "type": "order-cancelled", "data": data}
        )

    before = await history_length(orders, order.order_id)
    status, code, message = error(cancel(f"C1-{order.order_id}", by=" "))
    assert (status, code) == (409, "UpdateRefused")
    assert "requested_by must not be empty" in message
    # A refused update is not written to the history.
    assert await history_length(orders, order.order_id) == before

    answer = cancel(f"C2-{order.order_id}", by="shop")
    assert answer.status_code == 200, answer.text
    assert answer.json()["result"]["order_id"] == order.order_id
    result = await orders.result(order.order_id)
    assert result.status is OrderStatus.CANCELLED
    assert "cancelled by shop: customer called" in (result.reason or "")

    status, code, message = error(cancel(f"C3-{order.order_id}", by="shop"))
    assert (status, code) == (409, "WorkflowClosed")
    assert "already finished" in message


async def test_a_placed_order_starts_and_later_events_are_kept_in_its_tracking(
    gateway_stack: Stack, orders: OrderClient
) -> None:
    order = samples.order()
    placed = {"id": f"P-{order.order_id}", "type": "order-placed"}
    answer = post(gateway_stack, "shop", {**placed, "data": order.model_dump(mode="json")})
    assert answer.status_code == 202, answer.text
    await wait_status(orders, order.order_id, OrderStatus.AWAITING_DELIVERY)

    paid = {
        "id": f"PAY-{order.order_id}",
        "type": "payment-captured",
        "data": {
            "order_id": order.order_id,
            "payment_id": "pay_1",
            "amount": str(order.total),
            "currency": "EUR",
        },
    }
    assert post(gateway_stack, "payments", paid).status_code == 202
    assert error(post(gateway_stack, "payments", paid))[:2] == (409, "DuplicateEvent")
    # The same order placed again under a new event id signals the running order; no second one.
    again = {**placed, "id": f"P2-{order.order_id}", "data": order.model_dump(mode="json")}
    assert post(gateway_stack, "shop", again).status_code == 202

    await orders.deliver(order.order_id, carrier="test-carrier")
    result = await orders.result(order.order_id)
    assert result.status is OrderStatus.COMPLETED
    events = [(s.step, s.detail) for s in result.steps if "event" in s.detail]
    assert events == [
        ("order-placed", f"shop event P-{order.order_id}"),
        ("payment-captured", f"payments event PAY-{order.order_id}"),
        ("order-placed", f"shop event P2-{order.order_id}"),
    ]
    # Placed again once the order finished: the id is used, the order is not run twice.
    late = {**placed, "id": f"P3-{order.order_id}", "data": order.model_dump(mode="json")}
    status, code, _ = error(post(gateway_stack, "shop", late))
    assert (status, code) == (409, "WorkflowClosed")


def csrf_of(page: httpx.Response) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found, page.text
    return found.group(1)


def test_the_inbox_needs_a_session_and_a_csrf_token_on_every_post(gateway_stack: Stack) -> None:
    base = gateway_stack.url("gateway")
    password = gateway_stack.client_env()["INBOX_DEMO_PASSWORD"]
    with httpx.Client(base_url=base, timeout=30) as browser:
        # Not signed in: to the login page.
        answer = browser.get("/inbox")
        assert answer.status_code == 303 and answer.headers["location"] == "/login?next=/inbox"
        login = browser.get("/login")
        cookie = login.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=lax" in cookie
        assert "frame-ancestors 'none'" in login.headers["content-security-policy"]
        token = csrf_of(login)

        # A login without the token is refused before the password is even looked at.
        forged = browser.post("/login", data={"username": "alice", "password": password})
        assert forged.status_code == 403
        wrong = browser.post(
            "/login", data={"username": "alice", "password": "guess", "csrf_token": token}
        )
        assert wrong.status_code == 401 and "wrong password" in wrong.text
        stranger = browser.post(
            "/login", data={"username": "mallory", "password": password, "csrf_token": token}
        )
        assert stranger.status_code == 401

        signed_in = browser.post(
            "/login", data={"username": "alice", "password": password, "csrf_token": token}
        )
        assert signed_in.status_code == 303 and signed_in.headers["location"] == "/inbox"
        inbox = browser.get("/inbox")
        assert inbox.status_code == 200 and "Alice Archer" in inbox.text
        # Signing in made a new token: the one from before no longer works.
        fresh = csrf_of(inbox)
        assert fresh != token
        stale = browser.post(
            "/inbox/approval-order-X/decide",
            data={"verdict": "approved", "csrf_token": token},
        )
        assert stale.status_code == 403

        assert browser.post("/logout", data={"csrf_token": fresh}).status_code == 303
        assert browser.get("/inbox").status_code == 303

    # Another client without the session cookie cannot act, token or not.
    outsider = httpx.post(
        f"{base}/inbox/approval-order-X/decide",
        data={"verdict": "approved", "csrf_token": fresh},
        timeout=30,
    )
    assert outsider.status_code == 303 and outsider.headers["location"].startswith("/login")
