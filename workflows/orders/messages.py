"""What people and other systems tell a running order, and what they may ask it.

The order workflow's query, signals and update (names from the order's contract), as a base
class of OrderToCash, so that the workflow file reads as the process itself. Each handler only
records what arrived; the process decides what it means.
"""

from __future__ import annotations

import asyncio

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain.orders.contract import Message
    from domain.orders.lifecycle import CancelRequest, DeliveryNotice, EventNotice, cancel_problem
    from domain.orders.models import Order, OrderResult
    from workflows.orders.tracking import OrderTracker


# Events from other systems an order keeps in its tracking (evidence, not steps).
MAX_EVENTS = 50


class OrderMessages:
    _order: Order
    _track: OrderTracker
    _delivery: DeliveryNotice | None
    _cancel: CancelRequest | None
    _stop: asyncio.Event

    @workflow.query(name=Message.STATUS)
    def status(self) -> OrderResult:
        return self._track.result

    @workflow.update(name=Message.CANCEL)
    def cancel(self, request: CancelRequest) -> OrderResult:
        self._request_stop(request)
        return self._track.result

    @cancel.validator
    def _check_cancel(self, request: CancelRequest) -> None:
        status, delivered = self._track.result.status, self._delivery is not None
        if problem := cancel_problem(
            request, self._order.order_id, status, delivered, self._cancel
        ):
            raise ValueError(problem)

    @workflow.signal(name=Message.DELIVERED)
    def delivered(self, notice: DeliveryNotice) -> None:
        if notice.order_id != self._order.order_id:
            workflow.logger.warning("ignored a delivery notice for order %s", notice.order_id)
        elif self._delivery is None:
            self._delivery = notice

    @workflow.signal(name=Message.RECEIVED)
    def received(self, event: EventNotice) -> None:
        """News from another system (a webhook): kept in the tracking, once per event id, and
        at most MAX_EVENTS of them (a sender with ever new event ids must not grow the order's
        state without bound); later ones are logged and left out."""
        detail = f"{event.source} event {event.event_id}"
        if event.order_id != self._order.order_id:
            return
        kept = [s.detail for s in self._track.result.steps if " event " in s.detail]
        if detail in kept:
            return
        if len(kept) >= MAX_EVENTS:
            workflow.logger.warning(
                "order keeps no more than %d events: left out %s", MAX_EVENTS, detail
            )
            return
        self._track.record(event.type, detail)

    def _request_stop(self, request: CancelRequest) -> None:
        if self._cancel is None:
            self._cancel = request
            self._stop.set()
