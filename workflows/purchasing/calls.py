"""How a purchase runs its steps: each write registers its undo before anything can stop the
process, a step running when a cancellation arrives finishes first (so what it did is known and
undone), a failure for good stops the purchase, a notice that fails is only kept as an event.
The unwinding undoes in reverse, unless the supplier was already paid.

A base class of ProcureToPay (as `PurchaseMessages`), so the workflow file reads as the process.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

from pydantic import BaseModel
from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from domain.events.purchases import RejectionCause
    from domain.purchasing.models import CancelPurchase, PurchaseResult, PurchaseStatus, Requisition
    from domain.purchasing.steps import PurchaseUndo
    from workflows.failures import reason
    from workflows.policies import NOTIFY, WRITE, ActivityOptions
    from workflows.purchasing.business_events import PurchaseAnnouncer
    from workflows.purchasing.payments import PaymentTimers
    from workflows.purchasing.review import ExceptionReviews
    from workflows.purchasing.tracking import PurchaseTracker
    from workflows.saga import Saga, failed
    from workflows.steps import Step, step_name

A = TypeVar("A", bound=BaseModel)
R = TypeVar("R", bound=BaseModel)
# What undoes a write: a label for people, the undo step, its request.
Undo = tuple[str, Step[PurchaseUndo, BaseModel], PurchaseUndo]


class Stop(Exception):
    """Ends the forward path: rejected, failed for good, or cancelled (`cause`, `failed_step`
    and `by` say so in the purchase's last business event)."""

    def __init__(
        self,
        status: PurchaseStatus,
        reason: str,
        *,
        cause: RejectionCause | None = None,
        failed_step: str | None = None,
        by: str | None = None,
    ) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.cause = cause
        self.failed_step = failed_step
        self.by = by


class PurchaseCalls:
    _req: Requisition
    _track: PurchaseTracker
    _saga: Saga
    _reviews: ExceptionReviews
    _timers: PaymentTimers
    _cancel: CancelPurchase | None
    _announce: PurchaseAnnouncer

    def _request_stop(self, request: CancelPurchase) -> None:
        raise NotImplementedError  # PurchaseMessages

    async def _write(
        self,
        step: Step[A, R],
        arg: A,
        undo: Callable[[R], Undo] | None = None,
        *,
        tolerate: str | None = None,
    ) -> R:
        self._checkpoint()
        result = await self._call(step, arg, WRITE, tolerate=tolerate)
        if undo is not None:
            self._saga.add(*undo(result))
        self._track.record(step_name(step))
        return result

    async def _call(
        self, step: Step[A, R], arg: A, options: ActivityOptions, *, tolerate: str | None = None
    ) -> R:
        """A failure for good stops the purchase, except one of type `tolerate`: the caller
        handles that one (it gets the ActivityError)."""
        rid = self._req.requisition_id
        handle = workflow.start_activity_method(
            step, arg, summary=f"{step_name(step)} {rid}", **options
        )
        try:
            try:
                return await asyncio.shield(handle)
            except asyncio.CancelledError:
                self._request_stop(CancelPurchase(requisition_id=rid, requested_by="temporal"))
                return await handle
        except ActivityError as err:
            cause = err.cause
            if tolerate and isinstance(cause, ApplicationError) and cause.type == tolerate:
                raise
            status = PurchaseStatus.COMPENSATED if self._saga else PurchaseStatus.REJECTED
            failed_step = step_name(step)
            why = f"{failed_step} failed: {reason(err)}"
            raise Stop(status, why, failed_step=failed_step) from err

    async def _try(self, step: Step[A, R], arg: A) -> bool:
        """A notice whose failure must not stop the purchase: logged and kept as an event."""
        summary = f"{step_name(step)} {self._req.requisition_id}"
        try:
            await workflow.execute_activity_method(step, arg, summary=summary, **NOTIFY)
            return True
        except ActivityError as err:
            workflow.logger.warning("%s failed: %s", step_name(step), reason(err))
            self._track.record(f"{step_name(step)} failed", reason(err))
            return False

    async def _unwind(self, stop: Stop) -> PurchaseResult:
        """Undoes in reverse, tells the purchase's last business event and hands it over."""
        result, status, why = self._track.result, stop.status, stop.reason
        self._timers.cancel()
        await self._reviews.withdraw(why)
        undone, broken = [], []
        if result.payments:
            # Money left: returning goods or reversing invoices now is for people to decide.
            paid = f"{len(result.payments)} payment(s) made, nothing undone"
            self._track.set_status(PurchaseStatus.NEEDS_ATTENTION, f"{why}; {paid}")
        else:
            if self._saga:
                self._track.set_status(PurchaseStatus.COMPENSATING, why)
            records = await self._saga.unwind()
            result.compensated = [r.step + (f" ({r.detail})" if r.detail else "") for r in records]
            broken = failed(records)
            undone = [r.step for r in records if not r.detail.startswith("failed:")]
            if broken:
                status = PurchaseStatus.NEEDS_ATTENTION
                why = f"{why}; could not undo: {', '.join(broken)}"
            self._track.set_status(status, why)
        self._announce.stopped(
            result,
            cause=stop.cause,
            failed_step=stop.failed_step,
            cancelled_by=stop.by,
            undone=undone,
            not_undone=broken,
        )
        await self._announce.flush()
        return result

    def _checkpoint(self) -> None:
        if self._cancel is not None:
            why = f": {self._cancel.reason}" if self._cancel.reason else ""
            by = self._cancel.requested_by
            raise Stop(PurchaseStatus.CANCELLED, f"cancelled by {by}{why}", by=by)
