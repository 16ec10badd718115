"""Two gateway replicas on two hosts sharing only Temporal and PostgreSQL (issue 17): a signed
event sent to both at the same moment is applied once; an inbox session opened on one is valid
on the other and ends on both at logout; failed sign-ins are counted across both."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import time
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from sqlalchemy import select
from temporalio.api.enums.v1 import EventType

from continuum.client import connect
from continuum.order_client import OrderClient
from continuum.passwords import write_users
from continuum.settings import ORDERS_TASK_QUEUE, get_settings
from continuum.stack import LOOPBACK, Stack
from continuum.supervisor import free_port
from domain.orders.models import OrderStatus
from services.gateway.signatures import HEADER, sign
from store import Store
from store.schema import webhook_receipts
from tests import samples
from tests.integration.test_gateway import wait_status
from tests.replicas.conftest import host

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def gateways(
    shared: Stack, database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str]]:
    """A worker on host A, a gateway on each host; their base URLs."""
    root = tmp_path_factory.mktemp("gateway-hosts")
    a, b = host(shared, database_url, "host-a", root), host(shared, database_url, "host-b", root)
    password = shared.client_env()["INBOX_DEMO_PASSWORD"]
    people = get_settings().approval_policy().people
    # One users file, copied to each host as a deployment distributes it: the session keeps
    # the password's fingerprint, so files hashed separately per host would end it on the other.
    made = root / "inbox-users.json"
    write_users(made, dict.fromkeys(people, password))
    for one in (a, b):
        users = one.home / "inbox-users.json"
        shutil.copy2(made, users)
        one.env["INBOX_USERS_FILE"] = str(users)
    try:
        a.worker()
        ports = free_port(), free_port()
        a.gateway(ports[0])
        b.gateway(ports[1])
        yield f"http://{LOOPBACK}:{ports[0]}", f"http://{LOOPBACK}:{ports[1]}"
    finally:
        a.stop()
        b.stop()


@pytest.fixture
async def orders(shared: Stack) -> AsyncIterator[OrderClient]:
    client = await connect(shared.temporal_address, shared.data_converter())
    yield OrderClient(client, ORDERS_TASK_QUEUE)


async def test_one_event_sent_to_both_replicas_at_once_is_applied_once(
    shared: Stack, gateways: tuple[str, str], orders: OrderClient, database_url: str
) -> None:
    order = samples.order()
    await orders.start(order)
    await wait_status(orders, order.order_id, OrderStatus.AWAITING_DELIVERY)
    event = {
        "id": f"E-{order.order_id}",
        "type": "shipment-delivered",
        "data": {"order_id": order.order_id, "carrier": "DHL"},
    }
    body = json.dumps(event).encode()
    secret = shared.client_env()["WEBHOOK_SECRET_CARRIER"]
    headers = {HEADER: sign(secret, body, int(time.time())), "Content-Type": "application/json"}
    async with httpx.AsyncClient(timeout=30) as http:
        answers = await asyncio.gather(
            *(
                http.post(f"{base}/events/carrier", content=body, headers=headers)
                for base in gateways
            )
        )

    codes = sorted(a.status_code for a in answers)
    assert codes == [202, 409], [a.text for a in answers]
    [refused] = [a for a in answers if a.status_code == 409]
    assert refused.json()["error"]["code"] in {"DuplicateEvent", "EventInFlight"}
    result = await orders.result(order.order_id)
    assert result.status is OrderStatus.COMPLETED
    # Applied once: one delivery in the order's history, one receipt in the shared store.
    history = await orders.handle(order.order_id).fetch_history()
    deliveries = [
        e
        for e in history.events
        if e.event_type
        in (
            EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED,
            EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED,
        )
    ]
    assert len(deliveries) == 1
    with Store(database_url).read() as db:
        states = db.execute(
            select(webhook_receipts.c.state).where(webhook_receipts.c.event_id == event["id"])
        ).scalars()
        assert list(states) == ["accepted"]


def csrf_of(page: httpx.Response) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found, page.text
    return found.group(1)


def test_a_session_opened_on_one_replica_is_valid_on_the_other_and_ends_on_both(
    shared: Stack, gateways: tuple[str, str]
) -> None:
    first, second = gateways
    password = shared.client_env()["INBOX_DEMO_PASSWORD"]
    with httpx.Client(timeout=30) as browser:  # one browser, behind a load balancer
        token = csrf_of(browser.get(f"{first}/login"))
        signed_in = browser.post(
            f"{first}/login", data={"username": "alice", "password": password, "csrf_token": token}
        )
        assert signed_in.status_code == 303, signed_in.text
        for base in gateways:
            page = browser.get(f"{base}/inbox")
            assert page.status_code == 200 and "Alice Archer" in page.text
        fresh = csrf_of(browser.get(f"{second}/inbox"))
        assert browser.post(f"{second}/logout", data={"csrf_token": fresh}).status_code == 303
        cookies = dict(browser.cookies)
    # The old cookie, replayed on either replica: the session is gone from the shared store.
    for base in gateways:
        replayed = httpx.get(f"{base}/inbox", cookies=cookies, timeout=30)
        assert replayed.status_code == 303 and replayed.headers["location"].startswith("/login")


def test_failed_sign_ins_are_counted_across_both_replicas(
    shared: Stack, gateways: tuple[str, str]
) -> None:
    """Last in this module: it locks the test client's address for the lockout."""
    password = shared.client_env()["INBOX_DEMO_PASSWORD"]

    def attempt(base: str, secret: str) -> httpx.Response:
        with httpx.Client(base_url=base, timeout=30) as browser:
            token = csrf_of(browser.get("/login"))
            return browser.post(
                "/login", data={"username": "bob", "password": secret, "csrf_token": token}
            )

    # Five failures, alternating: neither replica alone saw more than three.
    for n in range(5):
        assert attempt(gateways[n % 2], "guess").status_code == 401
    for base in gateways:  # locked on both, even with the right password
        assert attempt(base, password).status_code == 429
