"""Waiting on a workflow's visible state, with a bound and no fixed sleeps."""

from __future__ import annotations

import asyncio
import time

from temporalio.client import Client, WorkflowHandle

from continuum.approvals.config import load_approval_policy
from domain.orders.contract import OrderToCashInput, workflow_id
from domain.orders.models import Order, OrderResult, OrderStatus
from workflows.orders.order_to_cash import OrderToCash


async def start(
    client: Client, task_queue: str, order: Order, **input_changes: object
) -> WorkflowHandle[OrderToCash, OrderResult]:
    # The approval policy as shipped (continuum/defaults/approvals.toml): thresholds, roles, people.
    policy = load_approval_policy()
    payload = OrderToCashInput(order=order, policy=policy).model_copy(update=input_changes)
    return await client.start_workflow(
        OrderToCash.run, payload, id=workflow_id(order.order_id), task_queue=task_queue
    )


async def wait_status(
    handle: WorkflowHandle[OrderToCash, OrderResult], *wanted: OrderStatus, within: float = 15.0
) -> OrderResult:
    deadline = time.monotonic() + within
    while True:
        state = await handle.query(OrderToCash.status)
        if state.status in wanted:
            return state
        if time.monotonic() > deadline:
            raise AssertionError(f"order still {state.status}, wanted {wanted}: {state}")
        await asyncio.sleep(0.05)
