"""A purchase's business events, through the real hand-over and publisher (time-skipping
server, the in-memory ERP, an in-memory sink that wants `purchase.*`): each path's events in
order, ids from the purchase's workflow id and sequence, data valid against its type's model,
and no personal data."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.events.handover import EventHandover
from activities.notifications import NotificationActivities, Notifier
from activities.purchasing.erp import PurchasingActivities
from continuum.approvals.client import ApprovalClient
from continuum.events.config import EventsConfig
from domain.approvals.models import ApprovalDecision, Verdict
from domain.events import contract
from domain.events import purchases as events
from domain.events.models import BusinessEvent
from domain.purchasing.contract import exception_subject, workflow_id
from domain.purchasing.models import (
    CancelPurchase,
    PurchaseResult,
    PurchaseStatus,
    Requisition,
    SupplierConfirmation,
)
from tests.events_sinks import MemorySink
from tests.fakes import InMemoryErp
from tests.workflows.purchase_support import (
    LARGE,
    PEOPLE,
    Handle,
    approval,
    as_ordered,
    invoice,
    receipt,
    requisition,
    start,
    today,
    wait_status,
)
from workers.events import build_events_worker
from workflows.approval import Approval
from workflows.purchasing.procure_to_pay import ProcureToPay


def purchase_worker(client: Client, task_queue: str, erp: InMemoryErp, events_queue: str) -> Worker:
    """ProcureToPay and its Approval children, handing their events to `events_queue`."""
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[ProcureToPay, Approval],
        activities=[
            *PurchasingActivities(erp, Notifier(None)).all(),  # type: ignore[list-item]
            *NotificationActivities(None).all(),  # type: ignore[list-item]
            *EventHandover(client, True, task_queue=events_queue).all(),
        ],
    )


@asynccontextmanager
async def running(env: WorkflowEnvironment) -> AsyncIterator[tuple[str, MemorySink]]:
    """A purchase worker and an events worker delivering to one sink."""
    run = uuid.uuid4().hex[:8]
    queue, events_queue = f"purchases-{run}", f"events-{run}"
    sink = MemorySink("all")
    async with (
        build_events_worker(env.client, EventsConfig(), [sink], task_queue=events_queue),
        purchase_worker(env.client, queue, InMemoryErp(), events_queue),
    ):
        yield queue, sink


def purchase_events(sink: MemorySink) -> list[BusinessEvent]:
    """The purchases' own events (their Approval children publish approval.*)."""
    return [e for e in sink.delivered if e.source == events.SOURCE]


async def _confirm(handle: Handle, req: Requisition) -> None:
    await wait_status(handle, PurchaseStatus.AWAITING_CONFIRMATION)
    confirmation = SupplierConfirmation(
        requisition_id=req.requisition_id, supplier_reference="SUP-77"
    )
    await handle.signal(ProcureToPay.supplier_confirmed, confirmation)
    await wait_status(handle, PurchaseStatus.RECEIVING)


def _check_envelopes(delivered: list[BusinessEvent], req: Requisition) -> None:
    """Ids by the purchase's workflow id and sequence, one subject and source, each event's
    data valid against its type's model, and no person's name or e-mail anywhere."""
    process = workflow_id(req.requisition_id)
    count = len(delivered)
    assert [e.id for e in delivered] == [contract.event_id(process, n) for n in range(1, count + 1)]
    assert {e.subject for e in delivered} == {req.requisition_id}
    assert {e.source for e in delivered} == {events.SOURCE}
    for event in delivered:
        events.TYPES[event.type].model_validate(event.data)
    text = json.dumps([e.data for e in delivered])
    for person in PEOPLE.values():
        assert person.name not in text
    assert "@" not in text


async def test_a_matched_purchase_tells_each_step_then_completed(
    events_env: WorkflowEnvironment,
) -> None:
    req, day = requisition(), await today(events_env)
    async with running(events_env) as (queue, sink):
        handle = await start(events_env.client, queue, req)
        await _confirm(handle, req)
        await handle.execute_update(ProcureToPay.goods_received, receipt(req, "GR-1"))
        bill = invoice(req, "INV-1", as_ordered(req), issued=day, due=day + timedelta(days=30))
        await handle.execute_update(ProcureToPay.invoice_received, bill)
        result: PurchaseResult = await handle.result()  # skips to the due date
        await sink.wait_for(7)
    delivered = purchase_events(sink)
    assert result.status is PurchaseStatus.COMPLETED, result.reason
    assert [e.type for e in delivered] == [
        events.REQUESTED,
        events.ORDERED,
        events.CONFIRMED,
        events.GOODS_RECEIVED,
        events.INVOICE_RECEIVED,
        events.PAID,
        events.COMPLETED,
    ]
    _check_envelopes(delivered, req)
    requested, ordered, confirmed, received, invoiced, paid, completed = (e.data for e in delivered)
    assert requested["total"] == str(req.total) and len(requested["lines"]) == 3
    assert requested["requested_by"] == "ada" and requested["supplier_id"] == "SUP-100"
    assert ordered["purchase_order_id"] == result.purchase_order_id
    assert confirmed["supplier_reference"] == "SUP-77"
    assert (received["receipt_id"], received["kind"]) == ("GR-1", "receipt")
    assert (invoiced["reference"], invoiced["gross"]) == ("INV-1", str(bill.gross))
    [payment] = result.payments
    assert (paid["payment_id"], paid["amount"]) == (payment.payment_id, str(payment.amount))
    assert completed["paid"] == str(payment.amount)
    assert completed["payment_ids"] == [payment.payment_id]
    # The time of each event is the workflow's: paid and completed on the due date.
    assert delivered[-1].time.date() == bill.due_on


async def test_an_approved_purchase_with_an_accepted_exception(
    events_env: WorkflowEnvironment,
) -> None:
    req, day = requisition(LARGE), await today(events_env)
    rid = req.requisition_id
    approvals = ApprovalClient(events_env.client)
    async with running(events_env) as (queue, sink):
        handle = await start(events_env.client, queue, req)
        await approval(events_env.client, workflow_id(rid))
        yes = ApprovalDecision(approver="max", verdict=Verdict.APPROVED, comment="Max says ok")
        await approvals.decide(workflow_id(rid), yes)
        await _confirm(handle, req)
        await handle.execute_update(ProcureToPay.goods_received, receipt(req, "GR-1"))
        dearer = {1: ("3", "520.00")}  # 4 % over the order price (2 % allowed): an exception
        bill = invoice(req, "INV-1", dearer, issued=day, due=day)
        await handle.execute_update(ProcureToPay.invoice_received, bill)
        await approval(events_env.client, exception_subject(rid, 1))
        accept = ApprovalDecision(approver="bea", verdict=Verdict.APPROVED, comment="agreed")
        await approvals.decide(exception_subject(rid, 1), accept)
        result = await handle.result()
        await sink.wait_for(14)  # and each Approval child's requested and decided
    delivered = purchase_events(sink)
    assert result.status is PurchaseStatus.COMPLETED, result.reason
    assert [e.type for e in delivered] == [
        events.REQUESTED,
        events.APPROVED,
        events.ORDERED,
        events.CONFIRMED,
        events.GOODS_RECEIVED,
        events.INVOICE_RECEIVED,
        events.EXCEPTION_OPENED,
        events.EXCEPTION_DECIDED,
        events.PAID,
        events.COMPLETED,
    ]
    _check_envelopes(delivered, req)
    by_type = {e.type: e.data for e in delivered}
    assert by_type[events.APPROVED]["decided_by"] == "max"
    opened, decided = by_type[events.EXCEPTION_OPENED], by_type[events.EXCEPTION_DECIDED]
    assert (opened["round_no"], opened["lines"], opened["reviewer_role"]) == (1, [1], "buyer")
    assert opened["review_id"] == f"approval-{exception_subject(rid, 1)}"
    assert (decided["outcome"], decided["accepted_lines"], decided["decided_by"]) == (
        "accepted",
        [1],
        "bea",
    )
    # A person's comment is free text: it stays in the purchase, not in its events.
    assert "agreed" not in json.dumps(by_type) and "Max says" not in json.dumps(by_type)


async def test_a_cancelled_purchase_says_who_cancelled_and_what_was_undone(
    events_env: WorkflowEnvironment,
) -> None:
    req = requisition()
    async with running(events_env) as (queue, sink):
        handle = await start(events_env.client, queue, req)
        await wait_status(handle, PurchaseStatus.AWAITING_CONFIRMATION)
        bye = CancelPurchase(
            requisition_id=req.requisition_id, requested_by="ada", reason="not needed"
        )
        await handle.execute_update(ProcureToPay.cancel, bye)
        result = await handle.result()
        await sink.wait_for(3)
    delivered = purchase_events(sink)
    assert result.status is PurchaseStatus.CANCELLED
    assert [e.type for e in delivered] == [events.REQUESTED, events.ORDERED, events.CANCELLED]
    _check_envelopes(delivered, req)
    cancelled = delivered[-1].data
    assert cancelled["cancelled_by"] == "ada"
    assert cancelled["undone"] == ["cancel purchase order"]
    assert "not needed" not in json.dumps(cancelled)


async def test_a_blocked_supplier_and_an_invalid_requisition_are_rejected_with_a_cause(
    events_env: WorkflowEnvironment,
) -> None:
    blocked = requisition(supplier_id="SUP-103")
    invalid = requisition(currency="eur")
    async with running(events_env) as (queue, sink):
        first = await start(events_env.client, queue, blocked)
        assert (await first.result()).status is PurchaseStatus.REJECTED
        await sink.wait_for(2)
        second = await start(events_env.client, queue, invalid)
        await wait_status(second, PurchaseStatus.INVALID)
        await sink.wait_for(4)
    by_subject: dict[str, list[BusinessEvent]] = {}
    for event in purchase_events(sink):
        by_subject.setdefault(event.subject, []).append(event)
    for req, cause, fields in (
        (blocked, "supplier_blocked", []),
        (invalid, "invalid", ["currency"]),
    ):
        delivered = by_subject[req.requisition_id]
        assert [e.type for e in delivered] == [events.REQUESTED, events.REJECTED]
        _check_envelopes(delivered, req)
        assert (delivered[-1].data["cause"], delivered[-1].data["fields"]) == (cause, fields)
