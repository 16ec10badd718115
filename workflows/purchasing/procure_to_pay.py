"""Procure-to-pay: validate, check the supplier, approve, order, await the supplier's
confirmation, then take goods receipts and invoices as they come, match them three ways, put
exceptions to a person, and pay what matched on its due date.

Each ERP write registers its undo; a step that fails for good or a cancellation undoes them in
reverse (`PurchaseCalls`). Messages arrive through `PurchaseMessages`, exception reviews run in
`ExceptionReviews`, payment timers in `PaymentTimers`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta

from pydantic import ValidationError
from temporalio import workflow
from temporalio.exceptions import ApplicationError, ChildWorkflowError

with workflow.unsafe.imports_passed_through():
    from activities.purchasing.erp import PurchasingActivities
    from domain.approvals.policy import ApprovalPlan
    from domain.durations import spoken
    from domain.events.purchases import RejectionCause
    from domain.idempotency import step_key
    from domain.purchasing.contract import WORKFLOW_NAME, ProcureToPayInput, workflow_id
    from domain.purchasing.models import (
        CancelPurchase,
        GoodsReceipt,
        MatchReport,
        PurchaseResult,
        PurchaseStatus,
        SupplierConfirmation,
        SupplierInvoice,
        SupplierStatus,
    )
    from domain.purchasing.policy import purchase_approval_plan
    from domain.purchasing.rules import describe, validate_requisition
    from domain.purchasing.settlement import awaiting_credit_note
    from domain.purchasing.steps import (
        PurchaseNotice,
        PurchaseOrderRef,
        PurchaseOrderRequest,
        StepName,
        SupplierCheck,
    )
    from workflows.approval_child import start_approval, until_decided
    from workflows.failures import reason
    from workflows.policies import READ
    from workflows.purchasing.business_events import PurchaseAnnouncer
    from workflows.purchasing.calls import Stop
    from workflows.purchasing.documents import PurchaseDocuments
    from workflows.purchasing.messages import PurchaseMessages
    from workflows.purchasing.payments import PaymentTimers
    from workflows.purchasing.review import ExceptionReviews, approval_request
    from workflows.purchasing.tracking import PurchaseTracker
    from workflows.saga import Saga

P = PurchasingActivities


@workflow.defn(name=WORKFLOW_NAME, failure_exception_types=[ValidationError])
class ProcureToPay(PurchaseMessages, PurchaseDocuments):
    @workflow.init
    def __init__(self, input: ProcureToPayInput) -> None:
        self._req, self._policy = input.requisition, input.policy
        self._track = PurchaseTracker(input.requisition)
        self._announce = PurchaseAnnouncer(input.requisition)
        self._saga = Saga(workflow_id(input.requisition.requisition_id))
        self._reviews = ExceptionReviews(
            input.requisition, input.policy, self._track, self._announce
        )
        self._timers = PaymentTimers()
        self._confirmation: SupplierConfirmation | None = None
        self._cancel: CancelPurchase | None = None
        self._stop = asyncio.Event()
        self._paying = False
        self._po = ""
        # What the ERP holds: the match reads recorded documents only.
        self._recorded: list[GoodsReceipt] = []
        self._posted: list[SupplierInvoice] = []
        self._paid: set[str] = set()

    @workflow.run
    async def run(self, input: ProcureToPayInput) -> PurchaseResult:
        req = input.requisition
        self._track.start()
        self._announce.requested()
        if violations := validate_requisition(req):
            self._track.set_status(PurchaseStatus.INVALID, describe(violations))
            self._announce.invalid([v.field for v in violations])
            await self._announce.flush()
            raise ApplicationError(
                f"invalid requisition {req.requisition_id}: {describe(violations)}",
                [v.model_dump() for v in violations],
                type="InvalidRequisition",
                non_retryable=True,
            )
        try:
            await self._purchase()
        except Stop as stop:
            return await self._unwind(stop)
        except asyncio.CancelledError:
            # Cancelled in Temporal itself (Web UI, `temporal workflow cancel`) while waiting.
            cancelled = Stop(PurchaseStatus.CANCELLED, "cancelled in Temporal", by="temporal")
            return await self._unwind(cancelled)
        self._timers.cancel()  # a due that a credit note settled leaves its timer behind
        self._track.set_status(PurchaseStatus.COMPLETED)
        self._announce.completed(self._track.result)
        await self._announce.flush()
        return self._track.result

    async def _purchase(self) -> None:
        req, rid = self._req, self._req.requisition_id
        check = SupplierCheck(requisition_id=rid, supplier_id=req.supplier_id)
        supplier = await self._call(P.check_supplier, check, READ)
        if supplier.status is SupplierStatus.BLOCKED:
            blocked = f"supplier {supplier.supplier_id} is blocked"
            raise Stop(PurchaseStatus.REJECTED, blocked, cause=RejectionCause.SUPPLIER_BLOCKED)
        await self._approve(purchase_approval_plan(req, supplier, self._policy))

        self._track.set_status(PurchaseStatus.ORDERING)
        order = await self._write(
            P.create_purchase_order,
            PurchaseOrderRequest(requisition=req),
            lambda po: (
                "cancel purchase order",
                P.cancel_purchase_order,
                self._undo(po.purchase_order_id),
            ),
        )
        self._po = self._track.result.purchase_order_id = order.purchase_order_id
        self._track.add_key(f"po:{self._po}")
        self._announce.ordered(order)
        confirmation = await self._await_confirmation()
        reference = confirmation.supplier_reference
        await self._write(
            P.confirm_purchase_order,
            PurchaseOrderRef(
                requisition_id=rid, purchase_order_id=self._po, supplier_reference=reference
            ),
        )
        self._track.result.confirmed = confirmation
        self._announce.confirmed(self._po, confirmation)
        self._track.set_status(PurchaseStatus.RECEIVING)
        await self._settle()

    async def _approve(self, plan: ApprovalPlan) -> None:
        if not plan.required:
            return
        req, rid = self._req, self._req.requisition_id
        self._track.set_status(PurchaseStatus.AWAITING_APPROVAL, "; ".join(plan.reasons))
        summary = (
            f"Purchase {rid} · supplier {req.supplier_id} · {req.total:,.2f} {req.currency} · "
            f"cost centre {req.cost_centre}: {'; '.join(plan.reasons)}"
        )
        request = approval_request(
            req,
            self._policy,
            plan,
            subject_id=workflow_id(rid),
            kind="purchase",
            amount=req.total,
            summary=summary,
        )
        handle = await start_approval(request, f"Approval of purchase {rid}")
        if not await until_decided(handle, self._stop.is_set):
            self._checkpoint()
        try:
            outcome = self._track.result.approval = handle.result()
        except ChildWorkflowError as err:
            failed = f"approval failed: {reason(err)}"
            raise Stop(PurchaseStatus.REJECTED, failed, cause=RejectionCause.NOT_APPROVED) from err
        who = outcome.decided_by or "the approval deadline"
        if not outcome.approved:
            comment = f": {outcome.comment}" if outcome.comment else ""
            why = f"rejected by {who}{comment}"
            raise Stop(PurchaseStatus.REJECTED, why, cause=RejectionCause.NOT_APPROVED)
        self._track.record("approved", f"by {who}")
        self._announce.approved(outcome)

    async def _await_confirmation(self) -> SupplierConfirmation:
        """Reminds the supplier after `confirmation_reminder`; at `confirmation_deadline` the
        purchase is overdue and the managers are told, and it keeps waiting."""
        policy, rid = self._policy, self._req.requisition_id
        sent = f"purchase order {self._po} sent to supplier {self._req.supplier_id}"
        self._track.set_status(PurchaseStatus.AWAITING_CONFIRMATION, sent)
        arrived = lambda: self._confirmation is not None or self._stop.is_set()  # noqa: E731
        if not await _within(arrived, policy.confirmation_reminder, "supplier reminder"):
            # A reminder or notice that cannot be sent must not stop the purchase.
            ref = PurchaseOrderRef(requisition_id=rid, purchase_order_id=self._po)
            if await self._try(P.remind_supplier, ref):
                self._track.record("supplier reminded", self._po)
            rest = policy.confirmation_deadline - policy.confirmation_reminder
            if not await _within(arrived, rest, "confirmation deadline"):
                late = f"{sent}: not confirmed within {spoken(policy.confirmation_deadline)}"
                self._track.set_status(PurchaseStatus.CONFIRMATION_OVERDUE, late)
                await self._tell_managers(late)
                await workflow.wait_condition(arrived)
        self._checkpoint()
        assert self._confirmation is not None
        self._track.record("supplier confirmed", self._confirmation.supplier_reference)
        return self._confirmation

    async def _tell_managers(self, message: str) -> None:
        role, rid = self._policy.manager_role, self._req.requisition_id
        people = sorted(u for u, p in self._policy.people.items() if role in p.roles)
        key = step_key(rid, f"{StepName.NOTIFY_PURCHASING}:confirmation-overdue")
        notice = PurchaseNotice(
            requisition_id=rid, role=role, recipients=people, message=message, idempotency_key=key
        )
        if await self._try(P.notify_purchasing, notice):
            self._track.record("escalated", f"to {role}: {', '.join(people) or 'nobody holds it'}")

    async def _settle(self) -> None:
        """Receipts and invoices until everything ordered is received, invoiced, decided, paid."""
        while True:
            self._checkpoint()
            if await self._record_next():
                continue
            report = self._match()
            decisions, review = self._track.result.decisions, self._reviews.pending
            if review is not None and review.done():
                decisions.append(self._reviews.decision())
                continue
            if review is not None and self._reviews.cleared(report):
                await self._reviews.withdraw("its exception was cleared by a later document")
                continue
            lines, reasons = self._reviews.undecided(report, decisions)
            if review is None and (lines or reasons):
                await self._reviews.open(report, lines, reasons)
                continue
            # Payment is held while a person decides.
            held = review is not None
            if not held and await self._pay_due(report):
                continue
            if not held and not self._outstanding(report):
                return
            self._show(report)
            self._timers.fired = False
            await workflow.wait_condition(self._news)

    def _news(self) -> bool:
        result, review = self._track.result, self._reviews.pending
        return (
            len(result.receipts) > len(self._recorded)
            or len(result.invoices) > len(self._posted)
            or (review is not None and review.done())
            or self._timers.fired
            or self._stop.is_set()
        )

    def _show(self, report: MatchReport) -> None:
        status, review = PurchaseStatus.RECEIVING, self._reviews.pending
        why = "; ".join(self._outstanding(report))
        if review is not None:
            status, why = PurchaseStatus.IN_EXCEPTION, review.describe()
        elif lines := awaiting_credit_note(report, self._track.result.decisions):
            status = PurchaseStatus.AWAITING_CREDIT_NOTE
            why = f"lines {', '.join(str(n) for n in lines)} rejected: waiting for a credit note"
        elif self._due(report):
            status = PurchaseStatus.AWAITING_PAYMENT
        self._track.set_status(status, why)


async def _within(done: Callable[[], bool], wait: timedelta, summary: str) -> bool:
    """Whether `done()` came true within `wait` (a durable timer)."""
    try:
        await workflow.wait_condition(done, timeout=wait, timeout_summary=summary)
        return True
    except TimeoutError:
        return False
