"""Procure-to-pay on the time-skipping server with the in-memory ERP: matched and paid on the
due date, exceptions accepted, rejected or accepted in part, duplicates, the supplier's
overdue confirmation, and cancellation in each stage undone in reverse."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from temporalio.client import (
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowUpdateFailedError,
)
from temporalio.exceptions import ApplicationError

from continuum.approvals.client import ApprovalClient
from domain.approvals.models import ApprovalDecision, Verdict
from domain.erp import ErpReceiptStatus, ErpSupplierInvoice, ErpSupplierInvoiceStatus
from domain.errors import BusinessRuleError
from domain.purchasing.contract import exception_subject
from domain.purchasing.models import (
    CancelPurchase,
    DocumentKind,
    MatchStatus,
    PurchaseOrderStatus,
    PurchaseStatus,
    SupplierConfirmation,
)
from tests.workflows.conftest import Harness
from tests.workflows.purchase_support import (
    LARGE,
    Handle,
    approval,
    as_ordered,
    happened,
    invoice,
    receipt,
    requisition,
    start,
    today,
    wait_status,
    wait_until,
)
from workflows.purchasing.procure_to_pay import ProcureToPay


async def _confirm(handle: Handle, rid: str) -> None:
    await wait_status(handle, PurchaseStatus.AWAITING_CONFIRMATION)
    confirmation = SupplierConfirmation(requisition_id=rid, supplier_reference="SUP-77")
    await handle.signal(ProcureToPay.supplier_confirmed, confirmation)
    await wait_status(handle, PurchaseStatus.RECEIVING)


def _yes(who: str, *parts: str) -> ApprovalDecision:
    return ApprovalDecision(approver=who, verdict=Verdict.APPROVED, parts=list(parts))


async def test_matched_invoice_is_paid_once_on_its_due_date(harness: Harness) -> None:
    req, day = requisition(), await today(harness.env)
    async with harness.worker():
        handle = await start(harness.env.client, harness.task_queue, req)
        await _confirm(handle, req.requisition_id)
        took = await handle.execute_update(ProcureToPay.goods_received, receipt(req, "GR-1"))
        assert took.accepted
        due = day + timedelta(days=30)
        bill = invoice(req, "INV-1", as_ordered(req), issued=day, due=due)
        assert (await handle.execute_update(ProcureToPay.invoice_received, bill)).accepted
        waiting = await wait_status(handle, PurchaseStatus.AWAITING_PAYMENT)
        assert waiting.match is not None
        assert {x.status for x in waiting.match.lines} == {MatchStatus.MATCHED}
        assert harness.erp.calls["pay_supplier"] == 0  # only once the timer fired
        result = await handle.result()  # the test server skips to the due date

    assert result.status is PurchaseStatus.COMPLETED, result.reason
    assert harness.erp.paid_per_invoice == {"INV-1": 1}
    [payment] = result.payments
    assert payment.amount == bill.gross == Decimal("142.80") and payment.lines == [1, 2, 3]
    paid_at = next(e.at for e in result.events if e.what == "pay_supplier")
    assert paid_at >= datetime.combine(due, datetime.min.time(), tzinfo=UTC)
    order = harness.erp.purchase_orders[f"PO-{req.requisition_id}"]
    assert order.status is PurchaseOrderStatus.CONFIRMED and order.supplier_reference == "SUP-77"
    assert result.compensated == [] and result.refused == []


async def test_exception_holds_payment_until_a_buyer_accepts_it(harness: Harness) -> None:
    req, day = requisition(), await today(harness.env)
    rid = req.requisition_id
    async with harness.worker():
        handle = await start(harness.env.client, harness.task_queue, req)
        await _confirm(handle, rid)
        await handle.execute_update(ProcureToPay.goods_received, receipt(req, "GR-1"))
        dearer = as_ordered(req) | {1: ("100", "0.60")}  # 20 % over the order price
        bill = invoice(req, "INV-1", dearer, issued=day, due=day)  # due today
        await handle.execute_update(ProcureToPay.invoice_received, bill)
        held = await wait_status(handle, PurchaseStatus.IN_EXCEPTION)
        review = await approval(harness.env.client, exception_subject(rid, 1))
        assert review.parts == ["1"] and review.pending_role == "buyer"
        assert review.process_id == f"purchase-{rid}" and review.kind == "purchase_exception"
        assert held.pending_review == f"approval-{exception_subject(rid, 1)}"
        assert harness.erp.calls["pay_supplier"] == 0  # due, but held by the exception
        await ApprovalClient(harness.env.client).decide(exception_subject(rid, 1), _yes("bea"))
        result = await handle.result()

    assert result.status is PurchaseStatus.COMPLETED, result.reason
    [decision] = result.decisions
    assert (decision.decided_by, decision.accepted_lines, decision.rejected_lines) == (
        "bea",
        [1],
        [],
    )
    assert decision.variance == Decimal("10.00")
    assert [p.amount for p in result.payments] == [bill.gross]
    assert result.pending_review is None


async def test_rejected_exception_waits_for_the_credit_note_then_pays_net(harness: Harness) -> None:
    req, day = requisition(), await today(harness.env)
    rid, subject = req.requisition_id, exception_subject(req.requisition_id, 1)
    async with harness.worker():
        handle = await start(harness.env.client, harness.task_queue, req)
        await _confirm(handle, rid)
        await handle.execute_update(ProcureToPay.goods_received, receipt(req, "GR-1"))
        dearer = as_ordered(req) | {1: ("100", "0.60")}
        due = day + timedelta(days=10)
        bill = invoice(req, "INV-1", dearer, issued=day, due=due)
        await handle.execute_update(ProcureToPay.invoice_received, bill)
        await approval(harness.env.client, subject)
        no = ApprovalDecision(approver="bea", verdict=Verdict.REJECTED, comment="ask for credit")
        await ApprovalClient(harness.env.client).decide(subject, no)
        waiting = await wait_status(handle, PurchaseStatus.AWAITING_CREDIT_NOTE)
        assert waiting.reason == "lines 1 rejected: waiting for a credit note"
        # The supplier credits the line in full and invoices it again at the order price.
        credit = invoice(
            req,
            "CN-1",
            {1: ("100", "0.60")},
            issued=day,
            due=due,
            kind=DocumentKind.CREDIT_NOTE,
            credits="INV-1",
        )
        again = invoice(req, "INV-2", {1: ("100", "0.50")}, issued=day, due=due)
        for document in (credit, again):
            assert (await handle.execute_update(ProcureToPay.invoice_received, document)).accepted
        await wait_status(handle, PurchaseStatus.AWAITING_PAYMENT)
        assert harness.erp.calls["pay_supplier"] == 0
        result = await handle.result()

    assert result.status is PurchaseStatus.COMPLETED, result.reason
    first, second = result.payments
    # INV-1 is paid net of its credit note: what is left of it is lines 2 and 3.
    assert (first.invoice_reference, first.amount) == ("INV-1", bill.gross - credit.gross)
    assert (second.invoice_reference, second.lines, second.amount) == ("INV-2", [1], again.gross)
    assert first.amount + second.amount == Decimal("142.80")  # the order, as ordered
    assert harness.erp.paid_per_invoice == {"INV-1": 1, "INV-2": 1}
    assert (result.decisions[0].rejected_lines, result.decisions[0].comment) == (
        [1],
        "ask for credit",
    )


async def test_an_undecided_review_escalates_and_its_deadline_rejects(harness: Harness) -> None:
    req, day = requisition(), await today(harness.env)
    rid = req.requisition_id
    async with harness.worker():
        handle = await start(harness.env.client, harness.task_queue, req)
        await _confirm(handle, rid)
        await handle.execute_update(ProcureToPay.goods_received, receipt(req, "GR-1"))
        dearer = as_ordered(req) | {1: ("100", "0.60")}
        later = day + timedelta(days=60)
        bill = invoice(req, "INV-1", dearer, issued=day, due=later)
        await handle.execute_update(ProcureToPay.invoice_received, bill)
        await approval(harness.env.client, exception_subject(rid, 1))
        await harness.env.sleep(timedelta(days=14))  # past 40 business hours
        waiting = await wait_status(handle, PurchaseStatus.AWAITING_CREDIT_NOTE)
        await handle.terminate("test over")
    [decision] = waiting.decisions
    assert (decision.decided_by, decision.rejected_lines) == (None, [1])
    review = await ApprovalClient(harness.env.client).handle(exception_subject(rid, 1)).result()
    actions = [e.action.value for e in review.audit]
    assert "escalated" in actions and actions[-1] == "expired"
    assert harness.erp.calls["pay_supplier"] == 0


async def test_accepting_a_part_pays_it_and_the_rest_waits(harness: Harness) -> None:
    req, day = requisition(), await today(harness.env)
    rid, subject = req.requisition_id, exception_subject(req.requisition_id, 1)
    async with harness.worker():
        handle = await start(harness.env.client, harness.task_queue, req)
        await _confirm(handle, rid)
        await handle.execute_update(ProcureToPay.goods_received, receipt(req, "GR-1"))
        dearer = as_ordered(req) | {1: ("100", "0.60"), 2: ("10", "6.00")}
        bill = invoice(req, "INV-1", dearer, issued=day, due=day)
        await handle.execute_update(ProcureToPay.invoice_received, bill)
        review = await approval(harness.env.client, subject)
        assert review.parts == ["1", "2"]
        await ApprovalClient(harness.env.client).decide(subject, _yes("bea", "1"))
        partly = await wait_status(handle, PurchaseStatus.AWAITING_CREDIT_NOTE)
        [first] = partly.payments
        assert first.lines == [1, 3] and partly.decisions[0].rejected_lines == [2]
        credit = invoice(
            req,
            "CN-1",
            {2: ("10", "6.00")},
            issued=day,
            due=day,
            kind=DocumentKind.CREDIT_NOTE,
            credits="INV-1",
        )
        again = invoice(req, "INV-2", {2: ("10", "5.00")}, issued=day, due=day)
        for document in (credit, again):
            await handle.execute_update(ProcureToPay.invoice_received, document)
        result = await handle.result()

    assert result.status is PurchaseStatus.COMPLETED, result.reason
    assert [(p.invoice_reference, p.lines) for p in result.payments] == [
        ("INV-1", [1, 3]),
        ("INV-2", [2]),
    ]
    assert harness.erp.paid_per_invoice == {"INV-1": 1, "INV-2": 1}
    assert sum(p.amount for p in result.payments) == Decimal("154.70")  # line 1 at 0.60


async def test_a_review_whose_exception_a_later_document_clears_is_withdrawn(
    harness: Harness,
) -> None:
    req, day = requisition(), await today(harness.env)
    rid, subject = req.requisition_id, exception_subject(req.requisition_id, 1)
    due = day + timedelta(days=10)
    async with harness.worker():
        handle = await start(harness.env.client, harness.task_queue, req)
        await _confirm(handle, rid)
        await handle.execute_update(ProcureToPay.goods_received, receipt(req, "GR-1"))
        dearer = as_ordered(req) | {1: ("100", "0.60")}
        await handle.execute_update(
            ProcureToPay.invoice_received, invoice(req, "INV-1", dearer, issued=day, due=due)
        )
        await approval(harness.env.client, subject)
        credit = invoice(
            req,
            "CN-1",
            {1: ("100", "0.60")},
            issued=day,
            due=due,
            kind=DocumentKind.CREDIT_NOTE,
            credits="INV-1",
        )
        await handle.execute_update(ProcureToPay.invoice_received, credit)
        cleared = await wait_until(handle, happened("exception review 1 withdrawn"), "withdrew")
        assert cleared.pending_review is None
        review = await ApprovalClient(harness.env.client).handle(subject).describe()
        assert review.status is WorkflowExecutionStatus.CANCELED  # out of the inbox
        again = invoice(req, "INV-2", {1: ("100", "0.50")}, issued=day, due=due)
        await handle.execute_update(ProcureToPay.invoice_received, again)
        result = await handle.result()

    assert result.status is PurchaseStatus.COMPLETED, result.reason
    assert result.decisions == [] and len(result.payments) == 2


async def test_a_step_failing_for_good_undoes_what_was_done(harness: Harness) -> None:
    req, day = requisition(), await today(harness.env)
    closed = BusinessRuleError("erp", "PeriodClosed", "the accounting period is closed")
    harness.erp.fail["post_supplier_invoice"] = closed
    async with harness.worker():
        handle = await start(harness.env.client, harness.task_queue, req)
        await _confirm(handle, req.requisition_id)
        await handle.execute_update(ProcureToPay.goods_received, receipt(req, "GR-1"))
        bill = invoice(req, "INV-1", as_ordered(req), issued=day, due=day)
        await handle.execute_update(ProcureToPay.invoice_received, bill)
        result = await handle.result()

    assert result.status is PurchaseStatus.COMPENSATED
    assert result.reason == "post_supplier_invoice failed: the accounting period is closed"
    assert result.compensated == ["return goods", "cancel purchase order"]
    assert harness.erp.calls["post_supplier_invoice"] == 1  # refused for good: not retried
    assert [r.status for r in harness.erp.receipts.values()] == [ErpReceiptStatus.RETURNED]


async def test_duplicate_and_bad_documents_are_refused_and_recorded(harness: Harness) -> None:
    req, day = requisition(), await today(harness.env)
    # Another purchase's invoice with the reference INV-9 is already in the ERP.
    harness.erp.supplier_invoices["SI-0"] = ErpSupplierInvoice(
        erp_invoice_id="SI-0",
        purchase_order_id="PO-other",
        supplier_id=req.supplier_id,
        reference="INV-9",
        kind="invoice",
        net=Decimal(1),
        tax=Decimal(0),
        currency="EUR",
        status=ErpSupplierInvoiceStatus.POSTED,
    )
    async with harness.worker():
        handle = await start(harness.env.client, harness.task_queue, req)
        early = receipt(req, "GR-1")
        with pytest.raises(WorkflowUpdateFailedError) as too_early:
            await handle.execute_update(ProcureToPay.goods_received, early)
        assert "once the supplier confirmed the order" in str(too_early.value.cause)
        await _confirm(handle, req.requisition_id)
        await handle.execute_update(ProcureToPay.goods_received, early)
        again = await handle.execute_update(ProcureToPay.goods_received, early)
        assert again.accepted and "already taken" in again.reason
        bill = invoice(req, "INV-1", as_ordered(req), issued=day, due=day + timedelta(days=5))
        await handle.execute_update(ProcureToPay.invoice_received, bill)
        twice = bill.model_copy(update={"reference": "inv 1"})
        answer = await handle.execute_update(ProcureToPay.invoice_received, twice)
        assert not answer.accepted and answer.reason.startswith("duplicate of INV-1")
        unknown = invoice(req, "INV-2", {7: ("1", "1.00")}, issued=day, due=day)
        with pytest.raises(WorkflowUpdateFailedError) as bad:
            await handle.execute_update(ProcureToPay.invoice_received, unknown)
        assert "line 7 is not on the requisition" in str(bad.value.cause)
        theirs = invoice(req, "INV-9", {1: ("1", "0.50")}, issued=day, due=day)
        assert (await handle.execute_update(ProcureToPay.invoice_received, theirs)).accepted
        result = await handle.result()

    assert result.status is PurchaseStatus.COMPLETED, result.reason
    assert [(r.reference, r.reason.split(":")[0]) for r in result.refused] == [
        ("inv 1", "duplicate of INV-1"),
        ("INV-9", "the ERP refused it"),
    ]
    assert [i.reference for i in result.invoices] == ["INV-1"]
    assert harness.erp.calls["record_goods_receipt"] == 1
    assert harness.erp.paid_per_invoice == {"INV-1": 1}


async def test_overdue_confirmation_reminds_then_tells_the_managers(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    req = requisition()
    rid, po = req.requisition_id, f"PO-{req.requisition_id}"
    caplog.set_level(logging.INFO, logger="continuum.notifications")
    async with harness.worker():
        handle = await start(harness.env.client, harness.task_queue, req)
        await wait_status(handle, PurchaseStatus.AWAITING_CONFIRMATION)
        await harness.env.sleep(timedelta(hours=25))
        reminded = await wait_until(handle, happened("supplier reminded"), "reminded")
        assert reminded.status is PurchaseStatus.AWAITING_CONFIRMATION
        assert harness.erp.reminders == {po: 1}
        await harness.env.sleep(timedelta(hours=24))
        late = await wait_until(handle, happened("escalated"), "escalated")
        assert late.status is PurchaseStatus.CONFIRMATION_OVERDUE
        assert late.reason.endswith("not confirmed within 2d")
        assert late.events[-1].detail == "to purchasing_manager: max"
        notices = [
            json.loads(r.getMessage().removeprefix("purchase notice "))
            for r in caplog.records
            if r.getMessage().startswith("purchase notice ")
        ]
        assert [(n["role"], n["recipients"]) for n in notices] == [("purchasing_manager", ["max"])]
        # It keeps waiting: a late confirmation still goes on with the purchase.
        confirmation = SupplierConfirmation(requisition_id=rid, supplier_reference="SUP-77")
        await handle.signal(ProcureToPay.supplier_confirmed, confirmation)
        await wait_status(handle, PurchaseStatus.RECEIVING)
        bye = CancelPurchase(requisition_id=rid, requested_by="ada", reason="too late")
        await handle.execute_update(ProcureToPay.cancel, bye)
        result = await handle.result()
    assert result.status is PurchaseStatus.CANCELLED
    assert harness.erp.reminders == {po: 1}


STAGES = {
    "before the approval decision": [],
    "after the purchase order": ["cancel purchase order"],
    "after a receipt": ["return goods", "cancel purchase order"],
    "after an invoice": ["cancel supplier invoice", "return goods", "cancel purchase order"],
}


@pytest.mark.parametrize("stage", STAGES)
async def test_cancel_in_each_stage_undoes_in_reverse(harness: Harness, stage: str) -> None:
    req, day = requisition(LARGE), await today(harness.env)
    rid, subject = req.requisition_id, f"purchase-{req.requisition_id}"
    approvals = ApprovalClient(harness.env.client)
    async with harness.worker():
        handle = await start(harness.env.client, harness.task_queue, req)
        await wait_status(handle, PurchaseStatus.AWAITING_APPROVAL)
        asked = await approval(harness.env.client, subject)
        assert asked.pending_role == "purchasing_manager" and asked.kind == "purchase"
        if stage != "before the approval decision":
            await approvals.decide(subject, _yes("max"))
            await wait_status(handle, PurchaseStatus.AWAITING_CONFIRMATION)
        if stage in ("after a receipt", "after an invoice"):
            await _confirm(handle, rid)
            await handle.execute_update(ProcureToPay.goods_received, receipt(req, "GR-1"))
            await wait_until(handle, happened("record_goods_receipt"), "recorded the receipt")
        if stage == "after an invoice":
            later = day + timedelta(days=30)
            bill = invoice(req, "INV-1", as_ordered(req), issued=day, due=later)
            await handle.execute_update(ProcureToPay.invoice_received, bill)
            await wait_status(handle, PurchaseStatus.AWAITING_PAYMENT)
        bye = CancelPurchase(requisition_id=rid, requested_by="ada", reason="not needed")
        await handle.execute_update(ProcureToPay.cancel, bye)
        result = await handle.result()
        child = await approvals.handle(subject).describe()

    assert result.status is PurchaseStatus.CANCELLED
    assert result.reason == "cancelled by ada: not needed"
    assert result.compensated == STAGES[stage]
    erp = harness.erp
    if stage == "before the approval decision":
        assert erp.calls["create_purchase_order"] == 0
        assert child.status is WorkflowExecutionStatus.CANCELED
    else:
        assert erp.purchase_orders[f"PO-{rid}"].status is PurchaseOrderStatus.CANCELLED
        assert result.approval is not None and result.approval.decided_by == "max"
    assert {r.status for r in erp.receipts.values()} <= {ErpReceiptStatus.RETURNED}
    assert {i.status for i in erp.supplier_invoices.values()} <= {
        ErpSupplierInvoiceStatus.CANCELLED
    }
    assert erp.calls["pay_supplier"] == 0


async def test_cancelled_in_temporal_it_undoes_too(harness: Harness) -> None:
    req = requisition()
    async with harness.worker():
        handle = await start(harness.env.client, harness.task_queue, req)
        await wait_status(handle, PurchaseStatus.AWAITING_CONFIRMATION)
        await handle.cancel()  # the Web UI's or the CLI's cancel, not the purchase's own
        result = await handle.result()
    assert (result.status, result.reason) == (PurchaseStatus.CANCELLED, "cancelled in Temporal")
    assert result.compensated == ["cancel purchase order"]


async def test_cancel_is_refused_once_the_supplier_was_paid(harness: Harness) -> None:
    req, day = requisition(), await today(harness.env)
    rid = req.requisition_id
    async with harness.worker():
        handle = await start(harness.env.client, harness.task_queue, req)
        await _confirm(handle, rid)
        half = receipt(req, "GR-1", {1: "50"})
        await handle.execute_update(ProcureToPay.goods_received, half)
        bill = invoice(req, "INV-1", {1: ("50", "0.50")}, issued=day, due=day)
        await handle.execute_update(ProcureToPay.invoice_received, bill)
        paid = await wait_until(handle, lambda s: bool(s.payments), "paid the supplier")
        assert paid.status is PurchaseStatus.RECEIVING and paid.payments[0].lines == [1]
        bye = CancelPurchase(requisition_id=rid, requested_by="ada")
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await handle.execute_update(ProcureToPay.cancel, bye)
        cause = refused.value.cause
        assert isinstance(cause, ApplicationError) and cause.message == (
            f"purchase {rid} can no longer be cancelled: 1 payment(s) were made to the supplier"
        )
        await handle.terminate("test over")
    assert harness.erp.purchase_orders[f"PO-{rid}"].status is PurchaseOrderStatus.CONFIRMED


async def test_invalid_requisition_fails_at_once_naming_the_fields(harness: Harness) -> None:
    req = requisition(currency="eur")
    req = req.model_copy(
        update={"lines": [req.lines[0].model_copy(update={"quantity": Decimal(0)})]}
    )
    async with harness.worker():
        handle = await start(harness.env.client, harness.task_queue, req)
        with pytest.raises(WorkflowFailureError) as failure:
            await handle.result()
    cause = failure.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == "InvalidRequisition"
    assert cause.non_retryable
    assert "lines[0].quantity" in cause.message and "currency" in cause.message
    assert sum(harness.erp.calls.values()) == 0


async def test_blocked_supplier_is_rejected_before_any_write(harness: Harness) -> None:
    req = requisition(supplier_id="SUP-103")
    async with harness.worker():
        handle = await start(harness.env.client, harness.task_queue, req)
        result = await handle.result()
    assert result.status is PurchaseStatus.REJECTED
    assert result.reason == "supplier SUP-103 is blocked"
    assert harness.erp.calls["create_purchase_order"] == 0
