"""Approvals on the real dev server: the inbox's visibility queries find what waits for whom."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime

import pytest

from continuum import search_attributes as sa
from continuum.approvals.client import ApprovalClient
from continuum.order_client import OrderClient
from continuum.stack import Stack
from domain.approvals.models import ApprovalClaim, ApprovalDecision, Verdict
from domain.orders.models import OrderStatus
from tests import samples
from tests.integration.test_order_to_cash_stack import drive_to_end, wait_for


@pytest.fixture(scope="module")
def stack(shared_stack: Stack) -> Stack:
    """The session's stack (`shared_stack`): it looks only for orders of its own, by id."""
    return shared_stack


async def listed(orders: OrderClient, query: str, workflow_id: str, within: float = 30) -> bool:
    """True once `query` lists `workflow_id` (visibility is eventually consistent)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        ids = [wf.id async for wf in orders.client.list_workflows(query, limit=100)]
        if workflow_id in ids:
            return True
        await asyncio.sleep(0.2)
    return False


async def test_the_inbox_query_follows_the_chain(orders: OrderClient) -> None:
    order = samples.order(unit_price="25000.00", quantity=1, customer_id="C-105")
    approvals = ApprovalClient(orders.client)
    subject, wf_id = f"order-{order.order_id}", f"approval-order-{order.order_id}"
    await orders.start(order)

    def inbox(role: str) -> str:
        return (
            f'WorkflowType="Approval" AND ApprovalStatus="Pending" AND ApprovalRole IN ("{role}")'
        )

    assert await listed(orders, inbox("sales_manager"), wf_id)
    assert (await orders.status(order.order_id)).status is OrderStatus.AWAITING_APPROVAL
    attrs = (await approvals.handle(subject).describe()).typed_search_attributes
    assert attrs.get(sa.ORDER_ID) == order.order_id
    assert isinstance(attrs.get(sa.APPROVAL_DEADLINE), datetime)

    await orders.decide(order.order_id, True, "alice", "fine")
    assert await listed(orders, inbox("finance"), wf_id)
    await approvals.claim(subject, ApprovalClaim(approver="bob"))
    assert await listed(orders, 'ApprovalAssignee="bob" AND ApprovalStatus="Pending"', wf_id)

    await approvals.decide(subject, ApprovalDecision(approver="bob", verdict=Verdict.APPROVED))
    assert await listed(orders, 'WorkflowType="Approval" AND ApprovalStatus="Approved"', wf_id)
    # Visibility still says AwaitingApproval (settled, for the carrier) until the order moves on.
    await wait_for(orders, order.order_id, "approved")
    [result] = await drive_to_end(orders, [order.order_id])
    assert result.status is OrderStatus.COMPLETED and result.approval is not None
    assert [(e.action.value, e.actor) for e in result.approval.audit] == [
        ("requested", "C-105"),
        ("approved", "alice"),
        ("claimed", "bob"),
        ("approved", "bob"),
    ]
