"""How an order stops (`Stop`, and the checks' `refusal`), and its three independent writes
(reserve the stock, create the sales order, open the CRM deal): at once for orders started
after the `concurrent-writes` patch, one after the other for the orders that were already past
that point when it came.

At once, each write registers its undo as it returns (the order's `_write`), and every one of
them is awaited even when another fails for good or a cancellation arrives meanwhile: what each
did must be known before the saga can undo it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, TypeVar

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain.credit import CreditStatus
    from domain.erp import StockStatus
    from domain.events.orders import RejectionCause
    from domain.orders.models import OrderStatus
    from workflows.saga import Saga
    from workflows.steps import Step

CONCURRENT_WRITES = "concurrent-writes"
# Undo the writes that ran at once in the business order's reverse, not their return order.
UNDO_IN_WRITE_ORDER = "undo-in-write-order"

R1 = TypeVar("R1")
R2 = TypeVar("R2")
R3 = TypeVar("R3")


class Stop(Exception):
    """Ends the forward path: the order was rejected, failed for good, or cancelled.

    `cause`, `step` and `skus` say why in terms a subscriber of the order's events can use.
    """

    def __init__(
        self,
        status: OrderStatus,
        reason: str,
        *,
        cause: RejectionCause | None = None,
        step: str | None = None,
        skus: Sequence[str] = (),
    ) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.cause = cause
        self.step = step
        self.skus = list(skus)

    def as_status(self, status: OrderStatus) -> Stop:
        return Stop(status, self.reason, cause=self.cause, step=self.step, skus=self.skus)


def refusal(credit: CreditStatus, stock: StockStatus) -> Stop | None:
    """Why the checks refuse the order before anything is written, if they do."""
    if credit.blocked:
        blocked = RejectionCause.CUSTOMER_BLOCKED
        return Stop(
            OrderStatus.REJECTED, f"customer {credit.customer_id} is blocked", cause=blocked
        )
    if stock.shortages:
        short = ", ".join(
            f"{s.sku} (requested {s.requested}, available {s.available})" for s in stock.shortages
        )
        return Stop(
            OrderStatus.REJECTED,
            f"insufficient stock: {short}",
            cause=RejectionCause.INSUFFICIENT_STOCK,
            skus=[s.sku for s in stock.shortages],
        )
    return None


async def in_turn(
    a: Coroutine[Any, Any, R1], b: Coroutine[Any, Any, R2], c: Coroutine[Any, Any, R3]
) -> tuple[R1, R2, R3]:
    """One after the other, as orders started before the patch ran them."""
    try:
        return await a, await b, await c
    finally:
        for write in (a, b, c):
            write.close()  # never started when an earlier one stopped the order: discarded


async def at_once(
    a: Coroutine[Any, Any, R1],
    b: Coroutine[Any, Any, R2],
    c: Coroutine[Any, Any, R3],
    *,
    saga: Saga,
    undo_order: Sequence[Step[Any, Any]],
    on_cancel: Callable[[], None],
) -> tuple[R1, R2, R3]:
    """All three at once; the first failure (else the cancellation) once every one has settled.

    `on_cancel` is told when Temporal cancels the order meanwhile; the writes go on (shielded),
    and each one's own checkpoint then stops the order once its undo is registered.
    """
    since = saga.registered
    settled = asyncio.gather(a, b, c, return_exceptions=True)
    try:
        ra, rb, rc = await asyncio.shield(settled)
    except asyncio.CancelledError:
        on_cancel()
        ra, rb, rc = await settled
    if workflow.patched(UNDO_IN_WRITE_ORDER):
        saga.put_in_order(since, undo_order)
    errors = [r for r in (ra, rb, rc) if isinstance(r, BaseException)]
    if errors:
        raise _first(errors, saga)
    return _ok(ra), _ok(rb), _ok(rc)


def _first(errors: list[BaseException], saga: Saga) -> BaseException:
    """A failure for good before a cancellation; anything else (a bug) as it is."""
    if other := [e for e in errors if not isinstance(e, Stop)]:
        return other[0]
    stops = [e for e in errors if isinstance(e, Stop)]
    refused = [s for s in stops if s.status is not OrderStatus.CANCELLED]
    if not refused:
        return stops[0]
    # The others may have registered their undos after this one failed.
    return refused[0].as_status(OrderStatus.COMPENSATED if saga else OrderStatus.REJECTED)


def _ok(result: R1 | BaseException) -> R1:
    if isinstance(result, BaseException):
        raise result
    return result
