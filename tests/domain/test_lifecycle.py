"""When an order can still be cancelled, and why not otherwise."""

from __future__ import annotations

from domain.orders.lifecycle import CancelRequest, cancel_problem
from domain.orders.models import OrderStatus


def test_cancellation_refusals_say_why() -> None:
    ask = CancelRequest(order_id="O-1", requested_by="ops")
    waiting = OrderStatus.AWAITING_DELIVERY
    assert cancel_problem(ask, "O-1", waiting, False, None) is None
    assert (
        cancel_problem(ask, "O-2", waiting, False, None)
        == "unknown order 'O-1': this is order 'O-2'"
    )
    assert cancel_problem(ask.model_copy(update={"requested_by": ""}), "O-1", waiting, False, None)
    assert (
        cancel_problem(ask, "O-1", OrderStatus.COMPLETED, False, None)
        == "order O-1 is already Completed"
    )
    assert "was delivered" in (cancel_problem(ask, "O-1", waiting, True, None) or "")
    assert "already being cancelled by ops" in (
        cancel_problem(ask, "O-1", waiting, False, ask) or ""
    )
