"""The daily report's steps: read the ERP, the CRM, Temporal's visibility and the sync store,
then write the files and post the summary. All reads; writing files again is harmless.

A figure a backend cannot give (Tryton has no day-figures read, a fake CRM cannot count, the
sync store does not exist yet) comes back as unavailable with a note, not as zero.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from temporalio import activity
from temporalio.client import Client, WorkflowExecution
from temporalio.common import SearchAttributeKey

from activities.calls import call
from domain.alerts.contract import AlertState
from domain.alerts.contract import Message as AlertMessage
from domain.alerts.figures import (
    MAX_ALERTS_READ,
    AlertFigures,
    AlertRecord,
    alert_figures,
    occurrences,
    touched_query,
)
from domain.approvals.contract import Message as ApprovalMessage
from domain.approvals.contract import approval_workflow_id
from domain.crm import CrmPort, DealStage
from domain.erp import ErpPort, PurchaseChange
from domain.figures import closed_orders_query, literal, started_orders_query
from domain.orders import contract as orders
from domain.orders.contract import WORKFLOW_NAME as ORDER_WORKFLOW
from domain.orders.contract import Message as OrderMessage
from domain.orders.models import OrderStatus
from domain.purchasing import figures as purchasing
from domain.purchasing.contract import Message as PurchaseMessage
from domain.purchasing.figures import (
    MAX_LEDGER_ORDERS,
    MAX_PURCHASES_READ,
    PurchaseFigures,
    PurchaseLedger,
    PurchaseRecord,
    PurchaseRuns,
    ledger_lines,
    purchase_figures,
)
from domain.purchasing.models import PurchaseResult
from domain.reports import (
    CrmFigures,
    DailyReport,
    ErpDayFigures,
    ErpFigures,
    OrderRun,
    OrderRuns,
    PublishedReport,
    ReportFiles,
    ReportWindow,
    SyncFigures,
    WebhookAnswer,
    feed_lag,
)
from domain.visibility import PROCESS_STATUS
from store import StoreError
from store.sync import SyncStore

log = logging.getLogger(__name__)
# Typed keys for reading visibility (names from the order's contract).
_ORDER_ID = SearchAttributeKey.for_keyword(orders.ORDER_ID.name)
_ORDER_STATUS = SearchAttributeKey.for_keyword(orders.ORDER_STATUS.name)
_PROCESS_STATUS = SearchAttributeKey.for_keyword(PROCESS_STATUS.name)

FEEDS = ("orders", "customers")
# Bounds the per-order queries for overdue approvals; past it the count says it is partial.
MAX_WAITING_QUERIED = 500
# Alert state queries in flight at once: the ops worker answers them beside its own work.
ALERT_QUERIES_AT_ONCE = 20
# Purchase records read at once (results from the server, queries answered by the workers).
PURCHASE_READS_AT_ONCE = 20
# A page of the ERP's purchase feed.
LEDGER_PAGE = 200


@runtime_checkable
class DayFiguresSource(Protocol):
    async def day_figures(self, start: datetime, end: datetime) -> ErpDayFigures: ...


@runtime_checkable
class RecordCounter(Protocol):
    async def count(self, object_type: str, filters: Any = ()) -> int: ...


@dataclass(frozen=True)
class ReportConfig:
    reports_dir: Path = Path("reports")
    webhook_url: str | None = None
    webhook_token: str = ""  # from the environment (REPORT_WEBHOOK_TOKEN), never logged
    # The store the sync writes (CONTINUUM_DATABASE_URL); None: no sync figures.
    store_url: str | None = None


def _ms(moment: datetime) -> str:
    return str(int(moment.timestamp() * 1000))


class ReportActivities:
    def __init__(
        self, erp: ErpPort, crm: CrmPort, client: Client | None, config: ReportConfig
    ) -> None:
        self.erp = erp
        self.crm = crm
        self.client = client
        self.config = config

    def all(self) -> list[Any]:
        return [
            self.report_erp_figures,
            self.report_crm_figures,
            self.report_order_runs,
            self.report_sync_figures,
            self.report_alerts,
            self.report_purchases,
            self.report_purchase_ledger,
            self.write_report_files,
            self.post_report,
        ]

    @activity.defn(name="report_erp_figures")
    async def report_erp_figures(self, window: ReportWindow) -> ErpFigures:
        if not isinstance(self.erp, DayFiguresSource):
            name = type(self.erp).__name__
            return ErpFigures(note=f"sales and inventory figures: not available from {name}")
        return ErpFigures(figures=await call(self.erp.day_figures(window.start, window.end)))

    @activity.defn(name="report_crm_figures")
    async def report_crm_figures(self, window: ReportWindow) -> CrmFigures:
        crm = self.crm
        if not isinstance(crm, RecordCounter):
            name = type(crm).__name__
            return CrmFigures(available=False, note=f"CRM figures: {name} cannot count records")
        created = [
            {"propertyName": "createdate", "operator": "GTE", "value": _ms(window.start)},
            {"propertyName": "createdate", "operator": "LT", "value": _ms(window.end)},
        ]
        contacts, deals, deals_created, *stages = await asyncio.gather(
            call(crm.count("contacts")),
            call(crm.count("deals")),
            call(crm.count("deals", created)),
            *(
                call(
                    crm.count(
                        "deals", [{"propertyName": "dealstage", "operator": "EQ", "value": s}]
                    )
                )
                for s in DealStage
            ),
        )
        return CrmFigures(
            contacts=contacts,
            deals=deals,
            deals_created=deals_created,
            deals_by_stage={s.value: n for s, n in zip(DealStage, stages, strict=True)},
        )

    @activity.defn(name="report_order_runs")
    async def report_order_runs(self, window: ReportWindow) -> OrderRuns:
        client = self._client()
        started = await client.count_workflows(started_orders_query(window.start, window.end))
        closed: list[OrderRun] = []
        async for wf in client.list_workflows(closed_orders_query(window.start, window.end)):
            if wf.close_time is None:
                continue
            attrs = wf.typed_search_attributes
            closed.append(
                OrderRun(
                    order_id=attrs.get(_ORDER_ID) or wf.id,
                    order_status=attrs.get(_ORDER_STATUS),
                    execution_status=wf.status.name if wf.status else "UNKNOWN",
                    started_at=wf.start_time,
                    closed_at=wf.close_time,
                )
            )
            activity.heartbeat(len(closed))
        waiting, overdue, note = await self._approvals(client, window.as_of)
        return OrderRuns(
            started=started.count,
            closed=sorted(closed, key=lambda r: (r.closed_at, r.order_id)),
            awaiting_approval=waiting,
            approvals_overdue=overdue,
            note=note,
        )

    async def _approvals(self, client: Client, now: datetime) -> tuple[int, int, str]:
        """Orders waiting for approval, and those past their deadline (asked of each order)."""
        query = (
            f"WorkflowType = '{ORDER_WORKFLOW}' AND ExecutionStatus = 'Running'"
            f" AND {orders.ORDER_STATUS.name} = '{OrderStatus.AWAITING_APPROVAL.value}'"
        )
        waiting = (await client.count_workflows(query)).count
        overdue, unknown, asked = 0, 0, 0
        async for wf in client.list_workflows(query, limit=MAX_WAITING_QUERIED):
            asked += 1
            deadline = await self._deadline(client, wf.id)
            if deadline is None:
                unknown += 1
            elif deadline < now:
                overdue += 1
        notes = []
        if unknown:
            notes.append(f"{unknown} waiting order(s) did not tell their approval deadline")
        if asked < waiting:
            notes.append(f"overdue approvals counted over the first {asked} of {waiting}")
        return waiting, overdue, "; ".join(notes)

    async def _deadline(self, client: Client, workflow_id: str) -> datetime | None:
        """The approval deadline the order reports: its SLA deadline, else its final one."""
        # The order's Approval child; an order started before it answers for its own gate.
        asked = [
            (approval_workflow_id(workflow_id), ApprovalMessage.STATE),
            (workflow_id, OrderMessage.APPROVAL),
        ]
        state: object = None
        for target, query in asked:
            try:
                state = await client.get_workflow_handle(target).query(
                    query, result_type=dict, rpc_timeout=timedelta(seconds=5)
                )
            except Exception as err:  # an RPC error, a timeout, an undecodable payload: next
                log.info("approval query %s on %s failed: %s", query, target, err)
                continue
            if isinstance(state, dict):
                break
        if not isinstance(state, dict):
            return None
        for key in ("sla_deadline", "final_deadline", "deadline"):
            if state.get(key):
                moment = datetime.fromisoformat(str(state[key]).replace("Z", "+00:00"))
                return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        return None

    @activity.defn(name="report_sync_figures")
    async def report_sync_figures(self, erp: ErpFigures) -> SyncFigures:
        url = self.config.store_url
        if url is None:
            return SyncFigures(available=False, note="sync figures: no sync store configured")
        store = SyncStore(url)
        newest = erp.figures.newest_change if erp.figures else None
        try:
            feeds = []
            for feed in FEEDS:
                synced = store.last_synced_through(feed)
                lag = feed_lag(feed, newest.get(feed) if newest is not None else None, synced)
                if newest is None:
                    lag.lag_seconds = None  # without the ERP's newest change, no lag to tell
                feeds.append(lag)
            quarantine = store.quarantine_size()
        except StoreError as err:
            return SyncFigures(available=False, note=f"sync figures: {err}")
        finally:
            store.close()
        return SyncFigures(
            feeds=feeds,
            quarantine=quarantine,
            note="" if newest is not None else "sync lag: the ERP cannot tell its newest change",
        )

    @activity.defn(name="report_alerts")
    async def report_alerts(self, window: ReportWindow) -> AlertFigures:
        """The Alert workflows the day touched, each read through its `state` query (answered
        by the ops worker: without it, the section says how many could not be read)."""
        client = self._client()
        query = touched_query(literal(window.start), literal(window.end))
        total = (await client.count_workflows(query)).count
        # Every run: one continued as new may hold an occurrence of its own (`occurrences`).
        runs = [wf async for wf in client.list_workflows(query, limit=MAX_ALERTS_READ)]
        runs.sort(key=lambda wf: wf.start_time)
        gate = asyncio.Semaphore(ALERT_QUERIES_AT_ONCE)

        async def read(alert_id: str, run_id: str) -> AlertRecord | None:
            async with gate:
                try:
                    state = await client.get_workflow_handle(alert_id, run_id=run_id).query(
                        AlertMessage.STATE, result_type=AlertState, rpc_timeout=timedelta(seconds=5)
                    )
                except Exception as err:  # an RPC error, a timeout, an undecodable state
                    log.info("alert state query on %s failed: %s", alert_id, err)
                    return None
                activity.heartbeat(alert_id)
                return AlertRecord.of(alert_id, state)

        read_all = await asyncio.gather(*(read(wf.id, wf.run_id) for wf in runs))
        records = occurrences(r for r in read_all if r is not None)
        notes = []
        if unread := sum(1 for r in read_all if r is None):
            notes.append(
                f"{unread} alert run(s) did not answer their state query (ops worker down?)"
            )
        if total > MAX_ALERTS_READ:
            notes.append(f"alerts read: the first {MAX_ALERTS_READ} of {total}")
        return alert_figures(records, window.start, window.end, "; ".join(notes))

    @activity.defn(name="report_purchases")
    async def report_purchases(self, window: ReportWindow) -> PurchaseFigures:
        """The ProcureToPay runs the day touched (visibility), each read through its own record:
        a completed run's result from the server, any other's `status` query (answered by the
        worker that runs purchases: without it, the section says how many it could not read)."""
        client = self._client()
        start, end = literal(window.start), literal(window.end)
        query = purchasing.touched_query(start, end)
        started = (await client.count_workflows(purchasing.started_query(start, end))).count
        total = (await client.count_workflows(query)).count
        listed = [wf async for wf in client.list_workflows(query, limit=MAX_PURCHASES_READ)]
        gate = asyncio.Semaphore(PURCHASE_READS_AT_ONCE)

        async def read(wf: WorkflowExecution) -> PurchaseRecord:
            status = wf.status.name if wf.status else "UNKNOWN"
            record = PurchaseRecord(
                workflow_id=wf.id,
                execution_status=status,
                process_status=wf.typed_search_attributes.get(_PROCESS_STATUS),
                started_at=wf.start_time,
                closed_at=wf.close_time,
            )
            handle = client.get_workflow_handle(wf.id, run_id=wf.run_id, result_type=PurchaseResult)
            async with gate:
                try:
                    if status == "COMPLETED":
                        record.result = await handle.result(rpc_timeout=timedelta(seconds=10))
                    else:
                        record.result = await handle.query(
                            PurchaseMessage.STATUS,
                            result_type=PurchaseResult,
                            rpc_timeout=timedelta(seconds=5),
                        )
                except Exception as err:  # an RPC error, a timeout, an undecodable record
                    log.info("purchase record of %s could not be read: %s", wf.id, err)
                activity.heartbeat(wf.id)
            return record

        records = await asyncio.gather(*(read(wf) for wf in listed))
        note = f"purchases read: the first {len(listed)} of {total}" if total > len(listed) else ""
        runs = PurchaseRuns(started=started, records=list(records), note=note)
        return purchase_figures(runs, window.start, window.end, window.as_of)

    @activity.defn(name="report_purchase_ledger")
    async def report_purchase_ledger(self, window: ReportWindow) -> PurchaseLedger:
        """The ERP's purchase orders as they stand now, paged through its purchase feed."""
        changes: list[PurchaseChange] = []
        cursor: str | None = None
        while len(changes) < MAX_LEDGER_ORDERS:
            page = await call(self.erp.purchase_changes(None, cursor, LEDGER_PAGE))
            changes += page.items
            activity.heartbeat(len(changes))
            cursor = page.next_cursor
            if cursor is None:
                break
        note = f"ledger: the first {len(changes)} purchase orders" if cursor is not None else ""
        return PurchaseLedger(lines=ledger_lines(changes), note=note)

    @activity.defn(name="write_report_files")
    async def write_report_files(self, report: DailyReport) -> ReportFiles:
        # Imported here, as the webhook's httpx below: workflows import this class for typed
        # calls, and neither matplotlib nor httpx belongs in the workflow sandbox.
        from connectors.report_files import write_report

        # matplotlib and file writes block: off the event loop.
        return await asyncio.to_thread(write_report, report, self.config.reports_dir)

    @activity.defn(name="post_report")
    async def post_report(self, published: PublishedReport) -> WebhookAnswer:
        url = self.config.webhook_url
        if not url:
            return WebhookAnswer(posted=False)
        from connectors.report_webhook import post_report

        await call(post_report(url, self.config.webhook_token, published.report, published.files))
        return WebhookAnswer(posted=True)

    def _client(self) -> Client:
        if self.client is None:
            raise RuntimeError("report activities need a Temporal client (workers.registry)")
        return self.client
