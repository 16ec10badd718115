"""The ERP→CRM sync on the time-skipping server, with in-memory ERP feeds and CRM.

Continue-as-new keeps the totals; a page failing half-way is retried without writing a record
twice; bad records end in the quarantine (one entry per record, however often seen) and land
after a fix and a redrive; reconciliation reports drift and the next run repairs it.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TypeVar

import pytest
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.client import WorkflowExecutionStatus, WorkflowFailureError, WorkflowHandle
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from activities.sync import SyncActivities
from domain.crm import CrmRecord, CrmUpsert
from domain.erp import (
    CustomerChange,
    CustomerChangePage,
    OrderChange,
    OrderChangePage,
    SalesOrderStatus,
)
from domain.errors import InvalidRequestError, TransientError
from domain.sync import contract as sync_contract
from domain.sync.mapping import DEFAULT_MAPPING
from domain.sync.models import (
    DriftReport,
    PageRequest,
    PageResult,
    ReconcileInput,
    RedriveRequest,
    RedriveResult,
    SyncInput,
    SyncResult,
)
from store.sync import SyncStore
from tests.fakes import InMemoryCrm, InMemoryErp
from workers.registry import build_worker
from workflows.sync.erp_crm_sync import ErpCrmSync
from workflows.sync.reconcile import ErpCrmReconcile
from workflows.sync.redrive import SyncQuarantineRedrive

T0 = datetime(2024, 11, 1, tzinfo=UTC)
R = TypeVar("R", OrderChange, CustomerChange)


class FeedErp(InMemoryErp):
    """Change feeds over lists, paged by (updated_at, position) like the reference ERP."""

    def __init__(self) -> None:
        super().__init__()
        self.orders: list[OrderChange] = []
        self.customers: list[CustomerChange] = []
        self.reads = 0

    def add_orders(self, count: int) -> None:
        for n in range(count):
            at = T0 + timedelta(microseconds=len(self.orders) + 1)
            self.orders.append(
                OrderChange(
                    order_id=f"O-{len(self.orders) + 1:06d}",
                    customer_id="C-1",
                    customer_name=f"Buyer {n}",
                    order_date=T0,
                    status=SalesOrderStatus.OPEN,
                    total=Decimal(f"{n + 1}.50"),
                    currency="EUR",
                    updated_at=at,
                )
            )

    def add_customers(self, count: int, *, bad: frozenset[int] = frozenset()) -> None:
        for n in range(count):
            self.customers.append(
                CustomerChange(
                    customer_id=f"C-{n:04d}",
                    name=f"Ada {n} Lovelace",
                    email="not-an-email" if n in bad else f"c{n}@example.com",
                    company=None if n % 3 == 0 else f"Company {n}",
                    credit_limit=Decimal("1000"),
                    updated_at=T0 + timedelta(seconds=n + 1),
                )
            )

    def touch(self, customer_id: str, **changes: object) -> None:
        """A change in the ERP: new values and a new updated_at, later than everything."""
        latest = max(c.updated_at for c in self.customers)
        for i, c in enumerate(self.customers):
            if c.customer_id == customer_id:
                self.customers[i] = c.model_copy(
                    update={**changes, "updated_at": latest + timedelta(seconds=1)}
                )

    @staticmethod
    def _page(
        rows: list[R], since: datetime | None, cursor: str | None, limit: int
    ) -> tuple[list[R], str | None]:
        ordered = sorted(enumerate(rows), key=lambda p: (p[1].updated_at, p[0]))
        if cursor:
            at, pos = cursor.split("|")
            start = (datetime.fromisoformat(at), int(pos))
            ordered = [p for p in ordered if (p[1].updated_at, p[0]) > start]
        elif since is not None:
            ordered = [p for p in ordered if p[1].updated_at >= since]
        page = ordered[:limit]
        more = len(ordered) > limit
        last = page[-1] if page else None
        return [r for _, r in page], (
            f"{last[1].updated_at.isoformat()}|{last[0]}" if more and last else None
        )

    async def order_changes(
        self, updated_since: datetime | None, cursor: str | None, limit: int
    ) -> OrderChangePage:
        self.reads += 1
        items, nxt = self._page(self.orders, updated_since, cursor, limit)
        return OrderChangePage(items=items, next_cursor=nxt)

    async def customer_changes(
        self, updated_since: datetime | None, cursor: str | None, limit: int
    ) -> CustomerChangePage:
        self.reads += 1
        items, nxt = self._page(self.customers, updated_since, cursor, limit)
        return CustomerChangePage(items=items, next_cursor=nxt)


class FlakyCrm(InMemoryCrm):
    """Fails chosen batch_upsert calls once (a 429), and refuses records with chosen ids."""

    def __init__(
        self, fail_calls: frozenset[int] = frozenset(), refuse: frozenset[str] = frozenset()
    ) -> None:
        super().__init__()
        self.fail_calls = set(fail_calls)
        self.refuse = refuse
        self.batch_calls = 0

    async def batch_upsert(
        self, object_type: str, id_property: str, records: list[CrmUpsert]
    ) -> list[CrmRecord]:
        self.batch_calls += 1
        if self.batch_calls in self.fail_calls:
            raise TransientError("crm", "RATE_LIMITS", "429 slow down", status=429, retry_after=1)
        if any(r.id in self.refuse for r in records):
            raise InvalidRequestError("crm", "CONFLICT", "409 email already taken", status=409)
        return await super().batch_upsert(object_type, id_property, records)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SyncStore]:
    s = SyncStore(tmp_path / "sync.db")
    yield s
    s.close()


async def sync(
    env: WorkflowEnvironment, erp: FeedErp, crm: InMemoryCrm, store: SyncStore, **options: object
) -> SyncResult:
    queue = f"tq-{uuid.uuid4().hex[:8]}"
    async with build_worker(env.client, queue, erp, crm, sync_store=store):
        result: SyncResult = await env.client.execute_workflow(
            ErpCrmSync.run,
            SyncInput.model_validate(options),
            id=f"sync-{uuid.uuid4().hex[:8]}",
            task_queue=queue,
        )
    return result


async def test_every_record_lands_once_and_continue_as_new_keeps_the_totals(
    ts_env: WorkflowEnvironment, store: SyncStore
) -> None:
    erp, crm = FeedErp(), InMemoryCrm()
    erp.add_orders(1234)
    erp.add_customers(30)
    result = await sync(ts_env, erp, crm, store, page_size=100, max_pages_per_run=3)

    assert result.totals.runs > 4  # 13 + 1 pages at 3 a run: continued as new
    orders, customers = result.totals.feeds["orders"], result.totals.feeds["customers"]
    assert (orders.records, orders.upserted, orders.pages) == (1234, {"deals": 1234}, 13)
    assert customers.records == 30
    assert customers.upserted == {"contacts": 30, "companies": 20}
    assert customers.skipped == 10  # customers without a company make no company
    assert len(crm.objects["deals"]) == 1234 and crm.upserts["deals"] == 1234
    deal = crm.objects["deals"]["O-000007"].properties
    assert (deal["amount"], deal["dealstage"], deal["order_status"]) == (
        "7.50",
        "contractsent",
        "open",
    )
    assert result.watermarks == {
        "customers": erp.customers[-1].updated_at,
        "orders": erp.orders[-1].updated_at,
    }
    assert store.last_synced_through("orders") == erp.orders[-1].updated_at
    assert store.last_synced_through("customers") == erp.customers[-1].updated_at

    # Nothing new: a second run reads the tail again and writes only what it re-read.
    again = await sync(ts_env, erp, crm, store, page_size=100)
    assert again.totals.feeds["orders"].records == 1  # the last record, read inclusively
    assert len(crm.objects["deals"]) == 1234


async def test_a_page_failing_half_way_resumes_without_writing_anything_twice(
    ts_env: WorkflowEnvironment, store: SyncStore
) -> None:
    erp, crm = FeedErp(), FlakyCrm(fail_calls=frozenset({3, 4, 9}))
    erp.add_orders(1200)
    result = await sync(ts_env, erp, crm, store, feeds=["orders"], page_size=500)

    assert result.totals.feeds["orders"].upserted == {"deals": 1200}
    assert len(crm.objects["deals"]) == 1200
    # The slices acknowledged before each 429 were not written again on the retry.
    assert crm.upserts["deals"] == 1200
    assert crm.batch_calls == 12 + 3


async def test_an_acknowledged_page_retried_is_answered_from_the_store(store: SyncStore) -> None:
    erp, crm = FeedErp(), InMemoryCrm()
    erp.add_orders(250)
    activities = SyncActivities(erp, crm, store)
    env = ActivityEnvironment()
    request = PageRequest(
        feed="orders", page_size=100, mapping=DEFAULT_MAPPING, sync_id="s-1", page=1
    )
    first: PageResult = await env.run(activities.sync_page, request)
    # The worker died before reporting page 1: Temporal runs it again.
    retried: PageResult = await env.run(activities.sync_page, request)
    second: PageResult = await env.run(activities.sync_page, request.model_copy(update={"page": 2}))

    assert retried == first and first.records == 100 and not first.done
    assert erp.reads == 2 and crm.upserts["deals"] == 200  # nothing read or written twice
    assert second.watermark == erp.orders[199].updated_at


async def test_bad_records_are_quarantined_once_and_land_after_a_fix_and_a_redrive(
    ts_env: WorkflowEnvironment, store: SyncStore
) -> None:
    erp, crm = FeedErp(), InMemoryCrm()
    erp.add_customers(12, bad=frozenset({1, 4, 7}))
    first = await sync(ts_env, erp, crm, store, feeds=["customers"])
    assert first.totals.feeds["customers"].quarantined == 3
    # A bad e-mail keeps the contact out, not the company.
    assert sorted(crm.objects["contacts"]) == [
        f"C-{n:04d}" for n in range(12) if n not in {1, 4, 7}
    ]
    assert "C-0001" in crm.objects["companies"]

    await sync(ts_env, erp, crm, store, feeds=["customers"], full_resync=True)
    entries = store.entries()
    assert [(e.record_id, e.target, e.field, e.times) for e in entries] == [
        ("C-0001", "contacts", "email", 2),
        ("C-0004", "contacts", "email", 2),
        ("C-0007", "contacts", "email", 2),
    ]
    assert "'not-an-email' is not an e-mail address" in entries[0].reason
    assert entries[0].record["email"] == "not-an-email"  # the source record, kept whole

    erp.touch("C-0001", email="ada1@example.com")
    erp.touch("C-0004", email="ada4@example.com")
    queue = f"tq-{uuid.uuid4().hex[:8]}"
    async with build_worker(ts_env.client, queue, erp, crm, sync_store=store):
        result: RedriveResult = await ts_env.client.execute_workflow(
            SyncQuarantineRedrive.run,
            RedriveRequest(),
            id=f"redrive-{uuid.uuid4().hex[:8]}",
            task_queue=queue,
        )
    ids = {e.record_id: e.id for e in entries}
    assert sorted(result.resolved) == sorted([ids["C-0001"], ids["C-0004"]])
    assert result.still_bad == [ids["C-0007"]]
    assert crm.objects["contacts"]["C-0004"].properties["email"] == "ada4@example.com"
    assert store.quarantine_size() == 1 and store.entries()[0].record_id == "C-0007"


async def test_a_record_the_crm_refuses_is_isolated_and_quarantined(
    ts_env: WorkflowEnvironment, store: SyncStore
) -> None:
    erp, crm = FeedErp(), FlakyCrm(refuse=frozenset({"O-000042"}))
    erp.add_orders(150)
    result = await sync(ts_env, erp, crm, store, feeds=["orders"])

    assert result.totals.feeds["orders"].upserted == {"deals": 149}
    assert len(crm.objects["deals"]) == 149 and "O-000042" not in crm.objects["deals"]
    [entry] = store.entries()
    assert (entry.record_id, entry.field) == ("O-000042", "(crm)")
    assert "email already taken" in entry.reason and entry.record["order_id"] == "O-000042"


async def test_reconciliation_reports_drift_and_the_next_run_repairs_it(
    ts_env: WorkflowEnvironment, store: SyncStore
) -> None:
    erp, crm = FeedErp(), InMemoryCrm()
    erp.add_orders(300)
    await sync(ts_env, erp, crm, store, feeds=["orders"])
    del crm.objects["deals"]["O-000010"]  # someone deleted it in the CRM
    crm.objects["deals"]["O-000020"].properties["amount"] = "999.99"  # edited by hand

    async def reconcile() -> DriftReport:
        queue = f"tq-{uuid.uuid4().hex[:8]}"
        async with build_worker(ts_env.client, queue, erp, crm, sync_store=store):
            report: DriftReport = await ts_env.client.execute_workflow(
                ErpCrmReconcile.run,
                ReconcileInput(feeds=["orders"], page_size=100),
                id=f"reconcile-{uuid.uuid4().hex[:8]}",
                task_queue=queue,
            )
        return report

    drift = (await reconcile()).targets["deals"]
    assert (drift.erp, drift.matching, drift.missing, drift.different) == (300, 298, 1, 1)
    assert sorted(drift.samples) == ["O-000010", "O-000020"]
    assert store.drift_size() == 2

    # The next run repairs, and reconciles as its last step (a window back to before the
    # records: the test server's clock is wherever earlier tests skipped it to).
    repaired = await sync(ts_env, erp, crm, store, feeds=["orders"], reconcile_hours=10**6)
    assert crm.objects["deals"]["O-000020"].properties["amount"] == "20.50"
    assert repaired.drift is not None
    after = repaired.drift.targets["deals"]
    assert (after.matching, after.drift, store.drift_size()) == (300, 0, 0)
    assert after.crm_in_window == 300


class HeldErp(FeedErp):
    """Holds the read of the `at`-th page until released: the sync is then running mid-way."""

    def __init__(self, at: int) -> None:
        super().__init__()
        self.at = at
        self.reached = asyncio.Event()
        self.release = asyncio.Event()

    async def order_changes(
        self, updated_since: datetime | None, cursor: str | None, limit: int
    ) -> OrderChangePage:
        if self.reads + 1 == self.at:
            self.reached.set()
            await self.release.wait()
        return await super().order_changes(updated_since, cursor, limit)


async def test_progress_is_queryable_while_the_sync_runs(
    ts_env: WorkflowEnvironment, store: SyncStore
) -> None:
    erp, crm = HeldErp(at=3), InMemoryCrm()
    erp.add_orders(50)
    queue = f"tq-{uuid.uuid4().hex[:8]}"
    async with build_worker(ts_env.client, queue, erp, crm, sync_store=store):
        handle: WorkflowHandle[ErpCrmSync, SyncResult] = await ts_env.client.start_workflow(
            ErpCrmSync.run,
            SyncInput(feeds=["orders"], page_size=10),
            id=f"sync-{uuid.uuid4().hex[:8]}",
            task_queue=queue,
        )
        await asyncio.wait_for(erp.reached.wait(), timeout=30)
        # Two pages done, the third held: the sync is running and says how far it got.
        midway = await handle.query(ErpCrmSync.progress)
        shown = await handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
        running = (await handle.describe()).status
        erp.release.set()
        await handle.result()
        progress = await handle.query(ErpCrmSync.progress)
        # What the Web UI shows as the workflow's current details.
        metadata = await handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
    assert running is WorkflowExecutionStatus.RUNNING
    assert (midway.state, midway.page, midway.totals.records) == ("syncing", 2, 20)
    assert "**syncing** · page 2" in shown.current_details
    assert progress.state == "done" and progress.totals.records == 50
    assert progress.totals.feeds["orders"].pages == 5
    assert "**done** · page 5" in metadata.current_details
    assert "| orders | 5 | 50 | 50 | 0 |" in metadata.current_details


async def test_an_input_that_does_not_decode_fails_the_sync_instead_of_retrying(
    ts_env: WorkflowEnvironment, store: SyncStore
) -> None:
    queue = f"tq-{uuid.uuid4().hex[:8]}"
    async with build_worker(ts_env.client, queue, FeedErp(), InMemoryCrm(), sync_store=store):
        handle = await ts_env.client.start_workflow(
            sync_contract.WORKFLOW_NAME,
            {"feeds": ["invoices"], "page_size": "many"},
            id=f"sync-{uuid.uuid4().hex[:8]}",
            task_queue=queue,
        )
        with pytest.raises(WorkflowFailureError):
            await asyncio.wait_for(handle.result(), timeout=30)
