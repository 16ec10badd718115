"""What subscribers learn of an order (issue 20): its business events, emitted as it goes.

Behind the `business-events` patch, asked at the first event (when the order starts): an order
started before it replays without events, and emits none for the rest of its life. The
events of one workflow task go to the order's publisher in one local activity (`Events`).

Behind the `held-events` patch (asked at the first held event: paid), an event that the next
one follows within one step waits for it: paid for shipped (the shipment is created between),
delivered and invoiced for the end (the invoice and the won deal between). A completed order
then hands over three times instead of six (placed; paid and shipped; delivered, invoiced and
completed): each hand-over costs a signal and a workflow task at the publisher. A stop hands
over what is held before undoing anything (`release`).
"""

from __future__ import annotations

import asyncio

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain.erp import Invoice, Payment, Shipment
    from domain.events import orders as ev
    from domain.orders.models import Order, OrderResult, OrderStatus
    from domain.orders.steps import DeliveryConfirmation
    from workflows.events import Events
    from workflows.orders.writes import Stop
    from workflows.saga import failed

BUSINESS_EVENTS = "business-events"
HELD_EVENTS = "held-events"


class OrderEvents:
    def __init__(self, order: Order) -> None:
        self.order = order
        # `Events` asks the patch at its first emit (the release tools find it here).
        self._events = Events(
            workflow.info().workflow_id, ev.SOURCE, BUSINESS_EVENTS, hold_patch=HELD_EVENTS
        )

    def _emit(self, type: str, data: ev.OrderEvent, *, hold: bool = False) -> None:
        self._events.emit(type, self.order.order_id, data, hold=hold)

    def release(self) -> None:
        """What is held goes over now (the order stops: its undo may take long)."""
        self._events.release()

    def _keys(self) -> dict[str, str]:
        return {"order_id": self.order.order_id, "customer_id": self.order.customer.customer_id}

    def placed(self) -> None:
        order = self.order
        lines = [ev.PlacedLine.model_validate(line, from_attributes=True) for line in order.lines]
        data = ev.OrderPlaced(
            **self._keys(),
            total=order.total,
            currency=order.currency,
            payment_method=order.payment_method.value,
            lines=lines,
        )
        self._emit(ev.PLACED, data)

    def approved(self) -> None:
        data = ev.OrderApproved(
            **self._keys(), total=self.order.total, currency=self.order.currency
        )
        self._emit(ev.APPROVED, data)

    def paid(self, payment: Payment) -> None:
        data = ev.OrderPaid(
            **self._keys(),
            payment_id=payment.payment_id,
            amount=payment.amount,
            currency=payment.currency,
        )
        self._emit(ev.PAID, data, hold=True)

    def shipped(self, shipment: Shipment, sales_order_id: str) -> None:
        data = ev.OrderShipped(
            **self._keys(),
            sales_order_id=sales_order_id,
            shipment_id=shipment.shipment_id,
            tracking_number=shipment.tracking_number,
        )
        self._emit(ev.SHIPPED, data)

    def delivered(self, confirmation: DeliveryConfirmation) -> None:
        data = ev.OrderDelivered(
            **self._keys(),
            shipment_id=confirmation.shipment_id,
            delivered_at=confirmation.delivered_at,
        )
        self._emit(ev.DELIVERED, data, hold=True)

    def invoiced(self, invoice: Invoice, sales_order_id: str) -> None:
        data = ev.OrderInvoiced(
            **self._keys(),
            sales_order_id=sales_order_id,
            invoice_id=invoice.invoice_id,
            amount=invoice.amount,
            currency=invoice.currency,
        )
        self._emit(ev.INVOICED, data, hold=True)

    def rejected_invalid(self) -> None:
        self._emit(ev.REJECTED, ev.OrderRejected(**self._keys(), cause=ev.RejectionCause.INVALID))

    def ended(self, result: OrderResult, stop: Stop | None = None) -> None:
        """The order's last event, from how it ended (and why it stopped, if it did)."""
        status, keys = result.status, self._keys()
        not_undone = failed(result.compensated)
        undone = [r.step for r in result.compensated if r.step not in not_undone]
        step = stop.step if stop is not None else None
        if status is OrderStatus.COMPLETED:
            assert result.sales_order_id and result.payment_id  # set by the steps that ran
            assert result.shipment_id and result.invoice_id
            completed = ev.OrderCompleted(
                **keys,
                sales_order_id=result.sales_order_id,
                payment_id=result.payment_id,
                shipment_id=result.shipment_id,
                invoice_id=result.invoice_id,
                total=self.order.total,
                currency=self.order.currency,
            )
            self._emit(ev.COMPLETED, completed)
        elif status is OrderStatus.NEEDS_ATTENTION:
            attention = ev.OrderNeedsAttention(
                **keys, undone=undone, failed_step=step, not_undone=not_undone
            )
            self._emit(ev.NEEDS_ATTENTION, attention)
        elif status is OrderStatus.CANCELLED:
            self._emit(ev.CANCELLED, ev.OrderCancelled(**keys, undone=undone))
        elif status is OrderStatus.COMPENSATED:
            compensated = ev.OrderCompensated(**keys, undone=undone, failed_step=step)
            self._emit(ev.COMPENSATED, compensated)
        elif status is OrderStatus.REJECTED:
            cause = (
                stop.cause if stop is not None and stop.cause else ev.RejectionCause.NOT_APPROVED
            )
            skus = stop.skus if stop is not None else []
            rejected = ev.OrderRejected(**keys, cause=cause, skus=skus, failed_step=step)
            self._emit(ev.REJECTED, rejected)

    async def flush(self) -> None:
        """Every event emitted handed over; a cancellation arriving meanwhile does not drop
        the last ones (they would be lost with the order's end)."""
        handed = asyncio.ensure_future(self._events.flush())
        try:
            await asyncio.shield(handed)
        except asyncio.CancelledError:
            await handed
