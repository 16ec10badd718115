"""Updates carry stable ids: a client that retries an update which was applied although its
answer was lost (a time-out) gets the first outcome back, not a refusal (issue 13, item 8)."""

from __future__ import annotations

import pytest

from continuum.order_client import OrderClient, OrderError
from continuum.settings import get_settings
from continuum.stack import Stack
from domain.orders.models import OrderStatus
from tests import samples
from tests.integration.test_gateway import wait_status


@pytest.fixture(scope="module")
def stack(shared_stack: Stack) -> Stack:
    """The session's stack (`shared_stack`): it only adds orders of its own."""
    return shared_stack


async def test_a_repeated_cancel_answers_with_the_first_outcome(orders: OrderClient) -> None:
    order = samples.order(customer_id="C-100")
    await orders.start(order)
    await wait_status(orders, order.order_id, OrderStatus.AWAITING_DELIVERY)
    first = await orders.cancel(order.order_id, "ops", "customer called")
    again = await orders.cancel(order.order_id, "ops", "customer called")  # the retry
    assert again.model_dump() == first.model_dump()
    # Somebody else's cancel is a new request, and the workflow refuses it with its reason.
    with pytest.raises(OrderError, match="already"):
        await orders.cancel(order.order_id, "someone-else")
    assert (await orders.result(order.order_id)).status is OrderStatus.CANCELLED


async def test_a_repeated_decision_answers_with_the_first_outcome(orders: OrderClient) -> None:
    order = samples.order(customer_id="C-102", quantity=1, unit_price="6000.00")
    await orders.start(order, get_settings().approval_policy())
    await wait_status(orders, order.order_id, OrderStatus.AWAITING_APPROVAL)
    first = await orders.decide(order.order_id, True, "alice", "fine")
    again = await orders.decide(order.order_id, True, "alice", "fine")  # the retry
    assert again.model_dump() == first.model_dump()
    with pytest.raises(OrderError, match="already"):
        await orders.decide(order.order_id, False, "alice")  # a different decision: refused
