"""The ERP→CRM sync of 10,000 records on two worker hosts sharing only Temporal and PostgreSQL
(issue 17): the host running a page is SIGKILLed mid-run, the other finishes it, and the CRM
holds exactly 10,000 deals, one per ERP order; the watermarks are in PostgreSQL, not in a file."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator

import pytest
from temporalio.api.enums.v1 import PendingActivityState
from temporalio.client import Client, WorkflowHandle

from continuum.client import connect
from continuum.settings import ORDERS_TASK_QUEUE
from continuum.stack import Stack
from domain.sync.contract import WORKFLOW_ID, WORKFLOW_NAME, Message
from domain.sync.models import SyncInput, SyncProgress, SyncResult
from store import Store
from store.sync import SyncStore
from tests.integration.conftest import set_faults
from tests.integration.test_sync_stack import (
    assert_deals_mirror_the_erp,
    crm_objects,
    generate,
    started_attempt,
)
from tests.replicas.conftest import Host

pytestmark = pytest.mark.integration


@pytest.fixture
async def client(shared: Stack) -> AsyncIterator[Client]:
    yield await connect(shared.temporal_address, shared.data_converter())


async def page_running(handle: WorkflowHandle[SyncInput, SyncResult]) -> tuple[str, str, str]:
    """(run id, activity id, worker identity) of a page a worker runs now."""
    deadline = time.monotonic() + 60
    while True:
        described = await handle.describe()
        for pending in described.raw_description.pending_activities:
            if pending.state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED:
                return described.run_id, pending.activity_id, pending.last_worker_identity
        assert time.monotonic() < deadline, "no page was ever seen running"
        await asyncio.sleep(0.05)


async def test_a_sync_of_10000_records_with_a_host_killed_lands_exactly_10000_deals(
    shared: Stack, hosts: tuple[Host, Host], client: Client, database_url: str
) -> None:
    a, b = hosts
    a.worker()
    b.worker()
    by_identity = {a.identity(): a, b.identity(): b}
    generate(shared, orders=10_000)
    began = time.monotonic()
    # Slow enough ERP pages that one is caught running, not between two pages.
    set_faults(shared, "erp", latency_ms=50)
    try:
        handle = await client.start_workflow(
            WORKFLOW_NAME,
            SyncInput(page_size=200),
            id=f"{WORKFLOW_ID}-{uuid.uuid4().hex[:6]}",
            task_queue=ORDERS_TASK_QUEUE,
            result_type=SyncResult,
        )
        deadline = time.monotonic() + 60
        while (await handle.query(Message.PROGRESS, result_type=SyncProgress)).page < 5:
            assert time.monotonic() < deadline, "the sync made no progress"
            await asyncio.sleep(0.2)
        run_id, activity_id, identity = await page_running(handle)
        victim = by_identity[identity]
        victim.processes["worker"].kill()  # SIGKILL: the page in flight is abandoned
        set_faults(shared, "erp")
        result = await asyncio.wait_for(handle.result(), timeout=150)
    finally:
        set_faults(shared, "erp")
    took = time.monotonic() - began
    print(f"\n10,000-record sync over two hosts, one killed: {took:.0f}s")

    # The killed page timed out on the dead host and ran again on the other one.
    assert (
        await started_attempt(client.get_workflow_handle(handle.id, run_id=run_id), activity_id) > 1
    )
    orders = result.totals.feeds["orders"]
    assert (orders.records, orders.upserted, orders.quarantined) == (10_000, {"deals": 10_000}, 0)
    assert len(crm_objects(shared, "deals", "order_id")) == 10_000
    assert_deals_mirror_the_erp(shared)
    # The watermarks live in the shared PostgreSQL; neither host wrote a store file of its own.
    store = SyncStore(Store(database_url))
    assert store.last_synced_through("orders") == result.watermarks["orders"]
    for one in hosts:
        assert not (one.home / "continuum.db").exists()
        assert not (one.home / "sync.db").exists()
