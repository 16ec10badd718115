"""Two worker hosts on one task queue (issue 17): orders spread over both complete exactly once,
and a worker whose ERP is not its peers' is refused at start instead of taking their work."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from continuum.client import connect
from continuum.order_client import OrderClient
from continuum.peers import LIVE_WITHIN, PeerMismatch, check_peers, configuration, live_peers
from continuum.settings import ORDERS_TASK_QUEUE, Settings
from continuum.stack import Stack
from continuum.supervisor import python_module
from domain.orders.models import OrderStatus
from store import Store
from store.peers import WorkerPeers
from tests import samples
from tests.integration.conftest import crm_deals, erp_counts
from tests.integration.test_order_to_cash_stack import ONE_OF_EACH, drive_to_end
from tests.replicas.conftest import Host

pytestmark = pytest.mark.integration
CUSTOMERS = ("C-100", "C-101", "C-104", "C-105")


@pytest.fixture
async def client(shared: Stack) -> AsyncIterator[Client]:
    yield await connect(shared.temporal_address, shared.data_converter())


async def activity_workers(client: Client, workflow_id: str) -> set[str]:
    """Identities of the workers that ran the order's activities (from its history)."""
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    return {
        e.activity_task_started_event_attributes.identity
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
    }


async def test_orders_spread_over_two_workers_complete_exactly_once(
    shared: Stack, hosts: tuple[Host, Host], client: Client
) -> None:
    a, b = hosts
    a.worker()
    b.worker()
    orders = OrderClient(client, ORDERS_TASK_QUEUE)
    batch = [samples.order(customer_id=CUSTOMERS[n % len(CUSTOMERS)]) for n in range(16)]
    await asyncio.gather(*(orders.start(order) for order in batch))
    results = await drive_to_end(orders, [o.order_id for o in batch], within=100)

    assert [r.status for r in results] == [OrderStatus.COMPLETED] * len(batch)
    for order in batch:
        assert erp_counts(shared, order.order_id) == ONE_OF_EACH, order.order_id
        deals = crm_deals(shared, order.order_id)
        assert len(deals) == 1 and deals[0]["dealstage"] == "closedwon"
    # Both hosts did part of the work: the orders were spread, not run by one of them.
    ran = set()
    for order in batch:
        ran |= await activity_workers(client, f"order-{order.order_id}")
    assert {a.identity(), b.identity()} <= ran


def tryton_credentials(home: Path) -> Path:
    """A well-formed Tryton credentials file, enough to build the connector (never used)."""
    path = home / "api-credentials.json"
    path.write_text(
        json.dumps(
            {"database": "continuum", "login": "api", "password": "x", "application_key": "k"}
        )
    )
    return path


async def polling(client: Client, identity: str, within: float = 30) -> None:
    """Until the server has seen `identity` poll the orders queue."""
    deadline = time.monotonic() + within
    while identity not in await live_peers(client, ORDERS_TASK_QUEUE, datetime.now(UTC)):
        assert time.monotonic() < deadline, f"{identity} never polled"
        await asyncio.sleep(0.2)


async def test_a_worker_with_another_erp_than_its_running_peer_is_refused(
    hosts: tuple[Host, Host], client: Client
) -> None:
    a, b = hosts
    a.worker()
    await polling(client, a.identity())
    refused = await asyncio.to_thread(
        subprocess.run,
        python_module("workers"),
        env={
            **os.environ,
            **b.env,
            "ERP_BACKEND": "tryton",
            "ERP_URL": "http://127.0.0.1:9",
            "TRYTON_CREDENTIALS_FILE": str(tryton_credentials(b.home)),
        },
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert refused.returncode == 2, refused.stderr[-2000:]
    output = refused.stdout + refused.stderr
    [line] = [x for x in output.splitlines() if "cannot start the worker" in x]
    assert "configuration differs from its peers' on task queue continuum-orders" in line
    assert "this one has ERP tryton at http://127.0.0.1:9" in line
    # The peer by name (a worker stopped within the last 90 s may be named beside it).
    assert "running workers (" in line and a.identity() in line
    assert "have ERP reference at http://127.0.0.1:" in line
    assert "worker ready" not in output

    # The same configuration as its peer: it starts.
    b.worker()
    assert b.processes["worker"].alive()


async def test_a_configuration_changes_only_when_no_peer_is_left(
    client: Client, database_url: str
) -> None:
    """On a queue of its own: a record made a moment ago counts as a live peer (two workers
    started at once); once nobody polled for longer than LIVE_WITHIN, the new one is taken."""
    store = Store(database_url)
    queue = f"peers-{uuid.uuid4().hex[:6]}"
    first = Settings(CONTINUUM_TASK_QUEUE=queue, ERP_URL="http://erp-a:8101")
    second = Settings(CONTINUUM_TASK_QUEUE=queue, ERP_URL="http://erp-b:8101")
    now = datetime.now(UTC)

    said = await check_peers(client, store, first, "host-a", now)
    assert said.startswith("configuration agrees")
    with pytest.raises(PeerMismatch, match=r"running workers \(host-a\) have ERP reference at"):
        await check_peers(client, store, second, "host-b", now + timedelta(seconds=5))

    later = now + LIVE_WITHIN + timedelta(seconds=1)
    said = await check_peers(client, store, second, "host-b", later)
    assert said == "configuration changed to ERP reference at http://erp-b:8101, CRM at" + (
        f" {second.crm_url} (no peer was running)"
    )
    recorded = WorkerPeers(store).recorded(queue)
    assert recorded is not None and recorded.recorded_by == "host-b"
    assert recorded.fingerprint == configuration(second).fingerprint
