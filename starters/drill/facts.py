"""What the drill reads back after the run: ERP and CRM rows, and each order's history.

The ERP and CRM are read from their own SQLite files (read-only), not through their APIs, so
a duplicate cannot hide behind an idempotent endpoint. Temporal's histories give when each order
started, moved and finished, how many attempts each step took, and which steps were undone.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client
from temporalio.service import RPCError

from domain.drill import (
    ERP_RECORDS,
    CrmDealFacts,
    ErpSalesOrder,
    OrderFacts,
    OrderKind,
    SyncFacts,
    SyncPass,
)
from domain.orders.contract import workflow_id
from domain.orders.models import OrderStatus
from domain.orders.steps import StepName
from starters.carrier import Standing
from store.sync import SyncStore

UNDO_STEPS = {
    StepName.RELEASE_STOCK.value,
    StepName.CANCEL_SALES_ORDER.value,
    StepName.REFUND_PAYMENT.value,
    StepName.CANCEL_SHIPMENT.value,
    StepName.CREDIT_INVOICE.value,
    StepName.SET_DEAL_STAGE.value,
}
_TASK_CLOSED = {
    EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED: "workflow_task_completed_event_attributes",
    EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT: "workflow_task_timed_out_event_attributes",
    EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED: "workflow_task_failed_event_attributes",
    EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED: "activity_task_completed_event_attributes",
    EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED: "activity_task_failed_event_attributes",
    EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT: "activity_task_timed_out_event_attributes",
    EventType.EVENT_TYPE_ACTIVITY_TASK_CANCELED: "activity_task_canceled_event_attributes",
}
_NO_PROGRESS = {
    EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT,
    EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED,
    EventType.EVENT_TYPE_ACTIVITY_TASK_CANCELED,
}
_CLOSED = {
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED,
}


def read_history(facts: OrderFacts, events: Iterable[HistoryEvent]) -> None:
    """Fills `facts` in from one order's history events."""
    activity_types: dict[int, str] = {}
    for event in events:
        at = event.event_time.ToDatetime(tzinfo=UTC)
        kind = event.event_type
        if kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
            facts.started_at = at
        elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            scheduled = event.activity_task_scheduled_event_attributes
            activity_types[event.event_id] = scheduled.activity_type.name
        elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            facts.retries += event.activity_task_started_event_attributes.attempt - 1
        elif kind in _TASK_CLOSED:
            source = getattr(event, _TASK_CLOSED[kind]).scheduled_event_id
            if kind in _NO_PROGRESS:
                facts.task_retries += kind != EventType.EVENT_TYPE_ACTIVITY_TASK_CANCELED
                continue
            facts.progress.append(at)
            if kind == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
                facts.steps.append(at)
                facts.undo_steps += activity_types.get(source) in UNDO_STEPS
        elif kind in _CLOSED:
            facts.finished_at = at
            facts.progress.append(at)


async def temporal_facts(
    client: Client,
    kinds: dict[str, OrderKind],
    standings: dict[str, Standing],
    concurrency: int = 8,
) -> list[OrderFacts]:
    """One `OrderFacts` per order: its standing in visibility and what its history shows."""
    gate = asyncio.Semaphore(concurrency)

    async def one(order_id: str, kind: OrderKind) -> OrderFacts:
        facts = OrderFacts(order_id=order_id, kind=kind)
        standing = standings.get(order_id)
        if standing is None:
            return facts
        facts.status = _status(standing.status)
        facts.running = standing.running
        async with gate:
            try:
                handle = client.get_workflow_handle(workflow_id(order_id))
                history = await handle.fetch_history()
            except RPCError:
                return facts
        read_history(facts, history.events)
        return facts

    return list(await asyncio.gather(*(one(oid, kind) for oid, kind in kinds.items())))


def _status(value: str) -> OrderStatus | None:
    try:
        return OrderStatus(value)
    except ValueError:
        return None


def erp_records(db: Path, order_ids: Sequence[str]) -> dict[str, dict[str, int]]:
    """Rows per order in each ERP table that records an order's steps."""
    counts: dict[str, dict[str, int]] = {oid: dict.fromkeys(ERP_RECORDS, 0) for oid in order_ids}
    with contextlib.closing(_read_only(db)) as conn:
        for table in ERP_RECORDS:
            rows = conn.execute(f"SELECT order_id, count(*) FROM {table} GROUP BY order_id")
            for order_id, n in rows:
                if order_id in counts:
                    counts[order_id][table] = n
    return counts


def crm_deals(db: Path) -> tuple[Counter[str], dict[str, str]]:
    """Live deals per order id, and each order's (last) deal stage."""
    with contextlib.closing(_read_only(db)) as conn:
        rows = conn.execute(
            "SELECT properties FROM objects WHERE object_type = 'deals' AND archived_at IS NULL"
            " ORDER BY id"
        ).fetchall()
    per_order: Counter[str] = Counter()
    stages: dict[str, str] = {}
    for (raw,) in rows:
        properties = json.loads(raw)
        if order_id := properties.get("order_id"):
            per_order[order_id] += 1
            stages[order_id] = properties.get("dealstage", "")
    return per_order, stages


def add_records(facts: Sequence[OrderFacts], erp_db: Path, crm_db: Path) -> None:
    erp = erp_records(erp_db, [f.order_id for f in facts])
    deals, stages = crm_deals(crm_db)
    for f in facts:
        f.erp_records = erp[f.order_id]
        f.crm_deals = deals.get(f.order_id, 0)
        f.deal_stage = stages.get(f.order_id)


def sync_facts(
    passes: list[SyncPass], erp_db: Path, crm_db: Path, sync_db: Path, began: datetime
) -> SyncFacts:
    """Every ERP sales order and customer, every live CRM deal, contact and company carrying an
    ERP key (duplicates and all; which were there before `began`), and the sync's open
    quarantine."""
    with contextlib.closing(_read_only(erp_db)) as conn:
        orders = conn.execute("SELECT order_id, status, total FROM sales_orders").fetchall()
        customers = conn.execute("SELECT customer_id, company FROM customers").fetchall()
    with contextlib.closing(_read_only(crm_db)) as conn:
        objects = conn.execute(
            "SELECT object_type, properties, created_at FROM objects WHERE archived_at IS NULL"
            " AND object_type IN ('deals', 'contacts', 'companies') ORDER BY id"
        ).fetchall()
    deals: dict[str, list[CrmDealFacts]] = {}
    held: dict[str, Counter[str]] = {"contacts": Counter(), "companies": Counter()}
    seeded: list[str] = []
    for object_type, raw, created_at in objects:
        properties = json.loads(raw)
        key = properties.get("order_id" if object_type == "deals" else "customer_id")
        if not key:
            continue
        if datetime.fromisoformat(created_at) < began:
            seeded.append(key)
        if object_type == "deals":
            deals.setdefault(key, []).append(CrmDealFacts.model_validate(properties))
        else:
            held[object_type][key] += 1
    quarantined: list[str] = []
    if sync_db.exists():  # the stack's store (continuum.db)
        store = SyncStore(sync_db)
        try:
            entries = store.entries(status="open")
        finally:
            store.close()
        quarantined = [
            f"{e.source}→{e.target} {e.record_id}: {e.field} {e.reason}" for e in entries
        ]
    return SyncFacts(
        passes=passes,
        sales_orders={oid: ErpSalesOrder(status=st, total=str(t)) for oid, st, t in orders},
        customers={cid: company for cid, company in customers},
        deals=deals,
        contacts=dict(held["contacts"]),
        companies=dict(held["companies"]),
        quarantined=quarantined,
        crm_seeded=seeded,
    )


def _read_only(db: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{db}?mode=ro", uri=True)
