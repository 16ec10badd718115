"""Order-to-cash on the real stack with a real Tryton 8.2 as the ERP: what Tryton ends up holding.

One stack for the module (`Stack(erp_backend="tryton")`), started from the session's seeded
Tryton template (tests/connectors/tryton_fixtures.py), so `services.tryton setup` runs once per
session. Tryton's records are read back through its own REST API with the connector's session.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from typing import Any

import pytest

from connectors.tryton import TrytonErpClient, TrytonSettings
from continuum.order_client import OrderClient
from continuum.stack import Stack
from domain.orders.models import OrderResult, OrderStatus
from services.tryton.setup import TrytonLayout
from tests import samples
from tests.connectors.tryton_fixtures import SKIP_REASON, TRYTON_MISSING, tryton_template
from tests.integration.conftest import free_ports
from tests.integration.test_order_to_cash_stack import wait_for

__all__ = ["tryton_template"]  # a fixture, imported for pytest

pytestmark = pytest.mark.skipif(TRYTON_MISSING, reason=SKIP_REASON)


@pytest.fixture(scope="module")
def stack(
    tryton_template: TrytonLayout, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    stack = Stack(
        tmp_path_factory.mktemp("tryton-stack"),
        free_ports(),
        erp_backend="tryton",
        erp_template=tryton_template.root,
    )
    with stack:
        yield stack


@pytest.fixture
async def tryton(stack: Stack) -> AsyncIterator[TrytonErpClient]:
    """The connector on the stack's Tryton, as the API user: used here only to read records."""
    credentials = TrytonLayout(stack.erp_home).credentials()
    client = TrytonErpClient(
        TrytonSettings(
            url=stack.url("erp"),
            database=credentials.database,
            application_key=credentials.application_key,
            login=credentials.login,
            password=credentials.password,
        )
    )
    try:
        await client._environment()
        yield client
    finally:
        await client.aclose()


async def sales(tryton: TrytonErpClient, order_id: str) -> list[dict[str, Any]]:
    """Every sale (any state) whose reference is the order id."""
    return await tryton._search(
        "sale.sale",
        [("reference", "=", order_id)],
        ["state", "shipments", "invoices", "total_amount"],
    )


async def shipments(tryton: TrytonErpClient, sale: dict[str, Any]) -> list[dict[str, Any]]:
    return await tryton._search(
        "stock.shipment.out", [("id", "in", list(sale["shipments"]))], ["state"]
    )


async def invoices(tryton: TrytonErpClient, sale: dict[str, Any]) -> list[dict[str, Any]]:
    return await tryton._search(
        "account.invoice", [("id", "in", list(sale["invoices"]))], ["state", "total_amount"]
    )


async def payments(tryton: TrytonErpClient, sale: dict[str, Any], kind: str) -> list[Any]:
    found: list[Any] = await tryton._payments(f"sale.sale,{sale['id']}", kind)
    return found


async def assert_one_of_each(tryton: TrytonErpClient, order_id: str, total: Decimal) -> None:
    """Exactly one confirmed sale, one done shipment, one posted invoice, one payment."""
    (sale,) = await sales(tryton, order_id)
    assert sale["state"] in ("confirmed", "processing", "done"), sale
    assert Decimal(sale["total_amount"]) == total
    assert [s["state"] for s in await shipments(tryton, sale)] == ["done"]
    (invoice,) = await invoices(tryton, sale)
    assert invoice["state"] in ("posted", "paid")
    assert Decimal(invoice["total_amount"]) == total
    received = await payments(tryton, sale, "receivable")
    assert [(p["state"], Decimal(p["amount"])) for p in received] == [("succeeded", total)]
    assert await payments(tryton, sale, "payable") == []


async def wait_for_status(
    orders: OrderClient, order_id: str, status: OrderStatus, within: float = 60
) -> None:
    deadline = time.monotonic() + within
    while (current := (await orders.status(order_id)).status) is not status:
        if current.is_terminal or time.monotonic() > deadline:
            raise AssertionError(f"{order_id} is {current}, never {status}")
        await asyncio.sleep(0.1)


async def deliver_and_finish(orders: OrderClient, order_id: str, within: float = 90) -> OrderResult:
    await wait_for_status(orders, order_id, OrderStatus.AWAITING_DELIVERY, within)
    await orders.deliver(order_id, carrier="test-carrier")
    return await asyncio.wait_for(orders.result(order_id), within)


async def test_an_order_completes_with_one_of_each_record_in_tryton(
    stack: Stack, orders: OrderClient, tryton: TrytonErpClient
) -> None:
    order = samples.order(customer_id="C-100")
    await orders.start(order)
    result = await deliver_and_finish(orders, order.order_id)
    assert result.status is OrderStatus.COMPLETED, result.reason
    await assert_one_of_each(tryton, order.order_id, order.total)


async def test_worker_killed_after_the_sale_leaves_no_duplicates_in_tryton(
    stack: Stack, orders: OrderClient, tryton: TrytonErpClient
) -> None:
    order = samples.order(customer_id="C-101")
    await orders.start(order)
    await wait_for(orders, order.order_id, "create_sales_order")
    stack.processes["worker"].kill()  # SIGKILL: no chance to finish anything
    stack.start_worker()
    result = await deliver_and_finish(orders, order.order_id)
    assert result.status is OrderStatus.COMPLETED, result.reason
    await assert_one_of_each(tryton, order.order_id, order.total)


async def test_tryton_killed_and_restarted_mid_order_leaves_no_duplicates(
    stack: Stack, orders: OrderClient, tryton: TrytonErpClient
) -> None:
    order = samples.order(customer_id="C-100", quantity=3)
    await orders.start(order)
    await wait_for(orders, order.order_id, "create_sales_order")
    restarted = stack.restart("erp", kill=True)  # the steps in flight meet a dead ERP
    assert restarted.alive() and stack.processes["erp"] is restarted
    result = await deliver_and_finish(orders, order.order_id)
    assert result.status is OrderStatus.COMPLETED, result.reason
    await assert_one_of_each(tryton, order.order_id, order.total)


async def test_an_unknown_product_rejects_the_order_and_leaves_no_sale(
    stack: Stack, orders: OrderClient, tryton: TrytonErpClient
) -> None:
    order = samples.order(sku="SKU-999")
    await orders.start(order)
    result = await asyncio.wait_for(orders.result(order.order_id), 60)
    # Tryton's search by that code finds nothing (Tryton has no error of its own for an unknown
    # code, see connectors/tryton/records.py): the stock check fails for good before any write.
    assert result.status is OrderStatus.REJECTED
    assert result.reason == (
        "check_stock failed: Tryton has no product with code SKU-999 "
        "(its product search by code found none)"
    ), result.reason
    assert result.steps == [] and result.sales_order_id is None
    assert await sales(tryton, order.order_id) == []
    assert await tryton._search("sale.sale", [("state", "=", "draft")], ["reference"]) == []


async def test_a_cancelled_order_is_compensated_in_tryton(
    stack: Stack, orders: OrderClient, tryton: TrytonErpClient
) -> None:
    order = samples.order(customer_id="C-104")
    await orders.start(order)
    await wait_for_status(orders, order.order_id, OrderStatus.AWAITING_DELIVERY)
    await orders.cancel(order.order_id, requested_by="test", reason="changed my mind")
    result = await asyncio.wait_for(orders.result(order.order_id), 60)
    assert result.status is OrderStatus.CANCELLED, result.reason
    (sale,) = await sales(tryton, order.order_id)
    shipped = await shipments(tryton, sale)
    assert sale["state"] == "cancelled" or [s["state"] for s in shipped] == ["cancelled"]
    assert [i["state"] for i in await invoices(tryton, sale)] in ([], ["cancelled"])
    # The captured payment was refunded: a succeeded payable payment of the same amount.
    refunds = await payments(tryton, sale, "payable")
    assert [(p["state"], Decimal(p["amount"])) for p in refunds] == [("succeeded", order.total)]


async def test_the_demo_test_card_is_declined_and_compensated_in_tryton(
    stack: Stack, orders: OrderClient, tryton: TrytonErpClient
) -> None:
    order = samples.order(customer_id="C-105", reference="tok_declined")
    await orders.start(order)
    result = await asyncio.wait_for(orders.result(order.order_id), 60)
    assert result.status is OrderStatus.COMPENSATED
    assert "PaymentDeclined" in (result.reason or "") or "declined" in (result.reason or "")
    (sale,) = await sales(tryton, order.order_id)
    assert sale["state"] == "cancelled" or [s["state"] for s in await shipments(tryton, sale)] == [
        "cancelled"
    ]
    assert await payments(tryton, sale, "receivable") == []
