"""Strict codec mode: without the installation's key nobody drives a process, and refusing an
input does not poison the process it was aimed at (issue 13, item 1).

The stack's worker has codec keys, so it is strict; the attacker is a client that reaches
Temporal but holds no key (plaintext payloads)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowFailureError, WorkflowUpdateFailedError
from temporalio.contrib.pydantic import pydantic_data_converter

from continuum.order_client import OrderClient
from continuum.settings import ORDERS_TASK_QUEUE
from continuum.stack import Stack
from domain.orders.contract import WORKFLOW_NAME, Message, OrderToCashInput, workflow_id
from domain.orders.lifecycle import CancelRequest, DeliveryNotice
from domain.orders.models import OrderStatus
from tests import samples
from tests.integration.conftest import erp_counts
from tests.integration.test_order_to_cash_stack import wait_for


@pytest.fixture
async def keyless(stack: Stack) -> AsyncIterator[Client]:
    """Someone who reaches Temporal's port but holds no codec key."""
    yield await Client.connect(stack.temporal_address, data_converter=pydantic_data_converter)


async def test_a_plaintext_start_fails_that_start_and_writes_nothing(
    stack: Stack, keyless: Client
) -> None:
    order = samples.order(customer_id="C-100")
    handle = await keyless.start_workflow(
        WORKFLOW_NAME,
        OrderToCashInput(order=order),
        id=workflow_id(order.order_id),
        task_queue=ORDERS_TASK_QUEUE,
    )
    with pytest.raises(WorkflowFailureError) as failure:
        await handle.result()
    # The message travels encrypted (encoded failure attributes): the keyless sees its type only.
    assert getattr(failure.value.cause, "type", None) == "UnencryptedPayload"
    assert sum(erp_counts(stack, order.order_id).values()) == 0


async def test_a_plaintext_signal_is_dropped_and_a_plaintext_update_rejected(
    keyless: Client, orders: OrderClient
) -> None:
    order = samples.order(customer_id="C-100")
    await orders.start(order)
    await wait_for(orders, order.order_id, "create_shipment")  # now awaiting delivery
    forged = keyless.get_workflow_handle(workflow_id(order.order_id))
    await forged.signal(Message.DELIVERED, DeliveryNotice(order_id=order.order_id, carrier="x"))
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await forged.execute_update(
            Message.CANCEL, CancelRequest(order_id=order.order_id, requested_by="mallory")
        )
    assert getattr(refused.value.cause, "type", None) == "UnencryptedPayload"
    # Untouched: still waiting for its delivery, and no workflow task failed on the way.
    status = await orders.status(order.order_id)
    assert status.status is OrderStatus.AWAITING_DELIVERY
    history = await orders.handle(order.order_id).fetch_history()
    kinds = {e.event_type for e in history.events}
    assert EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED in kinds  # it arrived, and was dropped
    assert EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED not in kinds
    # The key holder still drives it to the end.
    await orders.deliver(order.order_id, carrier="DHL")
    assert (await orders.handle(order.order_id).result()).status is OrderStatus.COMPLETED
