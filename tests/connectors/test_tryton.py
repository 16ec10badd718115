"""`TrytonErpClient` against a real Tryton 8.2 (one server per test), plus error classification
against canned answers (no server needed).

What is checked in Tryton itself, not only in the connector's answers: one sale, one shipment
and one posted invoice per order, whatever is retried; refused orders leave no sale.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from connectors.tryton import TrytonErpClient, TrytonSettings
from domain.erp import SalesOrderStatus, ShipmentStatus
from domain.errors import (
    BusinessRuleError,
    InvalidRequestError,
    NotFoundError,
    TransientError,
)
from domain.idempotency import step_key
from domain.orders.models import Address, Customer, Order, OrderLine, PaymentMethod
from tests.connectors.tryton_fixtures import (
    SKIP_REASON,
    TRYTON_MISSING,
    TrytonServer,
    tryton,
    tryton_server,
    tryton_servers,
    tryton_template,
)

# Fixtures, imported for pytest.
__all__ = ["tryton", "tryton_server", "tryton_servers", "tryton_template"]

needs_tryton = pytest.mark.skipif(TRYTON_MISSING, reason=SKIP_REASON)

ADDRESS = Address(
    name="Ada Lovelace", street="Marienstraße 12", city="Berlin", postal_code="10117", country="DE"
)


def make_order(
    order_id: str, *lines: tuple[str, int, str], customer: str = "C-100", currency: str = "EUR"
) -> Order:
    return Order(
        order_id=order_id,
        customer=Customer(customer_id=customer, name="Ada Lovelace", email="ada@example.com"),
        lines=[OrderLine(sku=s, quantity=q, unit_price=Decimal(p)) for s, q, p in lines],
        currency=currency,
        shipping_address=ADDRESS,
        payment_method=PaymentMethod.CARD,
        payment_reference="tok_visa_4242",
    )


async def count(client: TrytonErpClient, model: str, domain: list[Any]) -> dict[str, int]:
    """States of the records matching `domain`, counted, read straight from Tryton."""
    found = await client._search(model, domain, ["state"])
    counts: dict[str, int] = {}
    for record in found:
        counts[record["state"]] = counts.get(record["state"], 0) + 1
    return counts


async def sale_records(client: TrytonErpClient, order_id: str) -> list[dict[str, Any]]:
    return await client._search(
        "sale.sale", [("reference", "=", order_id)], ["state", "shipments", "invoices"]
    )


async def run_to_invoice(client: TrytonErpClient, order: Order) -> dict[str, str]:
    """Every forward write of order-to-cash, in the workflow's order; returns the record ids."""
    oid = order.order_id
    await client.reserve_stock(oid, order.lines, idempotency_key=step_key(oid, "reserve_stock"))
    so = await client.create_sales_order(order, idempotency_key=step_key(oid, "create_sales_order"))
    payment = await client.capture_payment(
        oid,
        order.total,
        order.currency,
        order.payment_method,
        order.payment_reference,
        idempotency_key=step_key(oid, "capture_payment"),
    )
    shipment = await client.create_shipment(
        oid,
        so.sales_order_id,
        order.shipping_address,
        order.lines,
        idempotency_key=step_key(oid, "create_shipment"),
    )
    await client.confirm_delivery(
        shipment.shipment_id,
        dt.datetime.now(dt.UTC),
        idempotency_key=step_key(oid, "confirm_delivery"),
    )
    invoice = await client.create_invoice(
        oid, so.sales_order_id, idempotency_key=step_key(oid, "create_invoice")
    )
    return {
        "sale": so.sales_order_id,
        "payment": payment.payment_id,
        "shipment": shipment.shipment_id,
        "invoice": invoice.invoice_id,
    }


# ---------------------------------------------------------------------------------------------
# Against a real Tryton


@needs_tryton
async def test_reads_credit_and_stock(tryton: TrytonErpClient) -> None:
    credit = await tryton.get_credit("C-100")
    assert credit.credit_limit == Decimal("50000")
    assert credit.exposure == 0 and not credit.blocked
    assert (await tryton.get_credit("C-103")).blocked  # archived in Tryton
    assert (await tryton.get_credit("C-102")).credit_limit == Decimal("500.00")

    stock = await tryton.check_stock(
        [
            OrderLine(sku="SKU-001", quantity=5, unit_price=Decimal("1")),
            OrderLine(sku="SKU-011", quantity=1, unit_price=Decimal("1")),
        ]
    )
    available = {line.sku: line.available for line in stock.lines}
    assert available == {"SKU-001": 10_000, "SKU-011": 0}
    assert [s.sku for s in stock.shortages] == ["SKU-011"]
    # An unknown code is not a shortage of zero: Tryton's search by code found nothing.
    unknown = OrderLine(sku="SKU-999", quantity=1, unit_price=Decimal("1"))
    with pytest.raises(NotFoundError, match="no product with code SKU-999") as err:
        await tryton.check_stock(
            [OrderLine(sku="SKU-001", quantity=1, unit_price=Decimal("1")), unknown]
        )
    assert err.value.code == "UnknownProduct" and not err.value.retryable

    with pytest.raises(NotFoundError, match="C-999"):
        await tryton.get_credit("C-999")


@needs_tryton
async def test_full_order_path_leaves_one_sale_one_done_shipment_one_posted_invoice(
    tryton: TrytonErpClient,
) -> None:
    order = make_order("ORD-T-1", ("SKU-001", 2, "249.00"), ("SKU-003", 1, "39.90"))
    ids = await run_to_invoice(tryton, order)

    sales = await sale_records(tryton, order.order_id)
    assert len(sales) == 1 and sales[0]["state"] in ("processing", "done")
    assert await count(tryton, "stock.shipment.out", [("id", "in", sales[0]["shipments"])]) == {
        "done": 1
    }
    assert await count(tryton, "account.invoice", [("id", "in", sales[0]["invoices"])]) == {
        "posted": 1
    }
    invoice = await tryton._read("account.invoice", int(ids["invoice"]), ["total_amount"])
    assert invoice["total_amount"] == Decimal("537.90")
    payments = await count(tryton, "account.payment", [("origin", "=", f"sale.sale,{ids['sale']}")])
    assert payments == {"succeeded": 1}

    changes = await tryton.order_changes(None, None, 10)
    (mine,) = [c for c in changes.items if c.order_id == order.order_id]
    assert mine.status is SalesOrderStatus.INVOICED and mine.total == Decimal("537.90")
    assert mine.customer_id == "C-100"
    # Stock left the warehouse: 10,000 - 2.
    stock = await tryton.check_stock([OrderLine(sku="SKU-001", quantity=1, unit_price=Decimal(1))])
    assert stock.lines[0].available == 10_000 - 2
    # The sale's planned moves count against the customer's exposure until it is invoiced;
    # then the posted invoice is receivable.
    assert (await tryton.get_credit("C-100")).exposure == Decimal("537.90")


@needs_tryton
async def test_every_write_twice_with_the_same_key_creates_nothing_new(
    tryton: TrytonErpClient,
) -> None:
    order = make_order("ORD-T-2", ("SKU-002", 3, "89.00"))
    first = await run_to_invoice(tryton, order)
    second = await run_to_invoice(tryton, order)  # a full replay: every write again
    assert first == second

    sales = await sale_records(tryton, order.order_id)
    assert len(sales) == 1
    assert len(sales[0]["shipments"]) == 1 and len(sales[0]["invoices"]) == 1
    assert await count(
        tryton, "account.payment", [("origin", "=", f"sale.sale,{first['sale']}")]
    ) == {"succeeded": 1}
    addresses = await tryton._search("party.address", [("street", "=", ADDRESS.street)], ["id"])
    assert len(addresses) == 1  # the delivery address was added to the customer once
    stock = await tryton.check_stock([OrderLine(sku="SKU-002", quantity=1, unit_price=Decimal(1))])
    assert stock.lines[0].available == 10_000 - 3  # delivered once


@needs_tryton
async def test_a_step_interrupted_midway_is_carried_on_by_its_retry(
    tryton: TrytonErpClient,
) -> None:
    """An attempt that died after Tryton made the draft sale, or the draft payment."""
    order = make_order("ORD-T-3", ("SKU-004", 1, "19.50"))
    env = await tryton._environment()
    sale_id = await tryton._new_sale(order, env)  # what a crashed attempt left: a draft
    so = await tryton.create_sales_order(order, idempotency_key=step_key("ORD-T-3", "so"))
    assert so.sales_order_id == str(sale_id) and so.status is SalesOrderStatus.OPEN
    assert len(await sale_records(tryton, order.order_id)) == 1

    draft_payment = await tryton._create(
        "account.payment",
        {
            "company": env.company,
            "journal": env.payment_journal,
            "kind": "receivable",
            "party": (await tryton._party("C-100"))["id"],
            "amount": order.total,
            "date": dt.date.today(),
            "origin": f"sale.sale,{sale_id}",
        },
    )
    payment = await tryton.capture_payment(
        "ORD-T-3",
        order.total,
        "EUR",
        PaymentMethod.CARD,
        None,
        idempotency_key=step_key("ORD-T-3", "capture_payment"),
    )
    assert payment.payment_id == str(draft_payment) and payment.status == "captured"


@needs_tryton
async def test_unknown_product_fails_and_leaves_no_sale(tryton: TrytonErpClient) -> None:
    order = make_order("ORD-T-4", ("SKU-001", 1, "249.00"), ("SKU-999", 1, "5.00"))
    with pytest.raises(NotFoundError, match="no product with code SKU-999") as err:
        await tryton.create_sales_order(order, idempotency_key=step_key("ORD-T-4", "so"))
    assert not err.value.retryable
    with pytest.raises(NotFoundError, match="SKU-999"):
        await tryton.reserve_stock("ORD-T-4", order.lines, idempotency_key="ORD-T-4:reserve")
    assert await sale_records(tryton, "ORD-T-4") == []


@needs_tryton
async def test_tryton_user_error_is_a_business_rule_with_trytons_message(
    tryton: TrytonErpClient,
) -> None:
    env = await tryton._environment()
    party = await tryton._party("C-100")
    draft = await tryton._create("sale.sale", {"company": env.company, "party": party["id"]})
    with pytest.raises(BusinessRuleError) as err:
        await tryton._button("sale.sale", draft, "quote")  # an empty sale: Tryton refuses
    assert err.value.code == "UserError" and err.value.status == 400
    assert 'You can not call "quote"' in err.value.message and not err.value.retryable

    blocked = make_order("ORD-T-6", ("SKU-001", 1, "49.90"), customer="C-103")
    with pytest.raises(BusinessRuleError, match="archived"):
        await tryton.create_sales_order(blocked, idempotency_key=step_key("ORD-T-6", "so"))
    assert await sale_records(tryton, "ORD-T-6") == []


@needs_tryton
async def test_over_the_credit_limit_tryton_warns(tryton_server: TrytonServer) -> None:
    """C-102's limit is 500.00. Tryton warns; the connector acknowledges only if told to."""
    order = make_order("ORD-T-5", ("SKU-002", 10, "89.00"), customer="C-102")
    strict = TrytonErpClient(tryton_server.settings(accept_credit_warnings=False))
    client = TrytonErpClient(tryton_server.settings())
    try:
        with pytest.raises(BusinessRuleError) as err:
            await strict.create_sales_order(order, idempotency_key=step_key("ORD-T-5", "so"))
        assert err.value.code == "UserWarning" and not err.value.retryable
        assert "credit limit" in err.value.message  # Tryton's own message
        assert await sale_records(strict, "ORD-T-5") == []  # the refused draft was removed

        # By default the approval gate has decided: the warning is acknowledged, once.
        so = await client.create_sales_order(order, idempotency_key=step_key("ORD-T-5", "so"))
        assert so.status is SalesOrderStatus.OPEN and so.total == Decimal("890.00")
        assert (await client.get_credit("C-102")).exposure == Decimal("890.00")
        # The next over-limit sale warns again: one acknowledgement is no standing permission.
        second = make_order("ORD-T-5b", ("SKU-002", 1, "89.00"), customer="C-102")
        with pytest.raises(BusinessRuleError, match="credit limit"):
            await strict.create_sales_order(second, idempotency_key="ORD-T-5b:so")
    finally:
        await strict.aclose()
        await client.aclose()


@needs_tryton
async def test_no_stock_no_reservation(tryton: TrytonErpClient) -> None:
    lines = [OrderLine(sku="SKU-011", quantity=1, unit_price=Decimal("15"))]
    with pytest.raises(BusinessRuleError, match="SKU-011") as err:
        await tryton.reserve_stock("ORD-T-7", lines, idempotency_key="ORD-T-7:reserve")
    assert err.value.code == "InsufficientStock"


@needs_tryton
async def test_compensation_before_delivery_undoes_everything(tryton: TrytonErpClient) -> None:
    order = make_order("ORD-T-8", ("SKU-006", 4, "59.00"))
    oid = order.order_id
    reservation = await tryton.reserve_stock(oid, order.lines, idempotency_key=f"{oid}:r")
    so = await tryton.create_sales_order(order, idempotency_key=f"{oid}:so")
    stock = await tryton.check_stock(order.lines)
    assert stock.lines[0].available == 10_000 - 4  # held by the confirmed sale
    payment = await tryton.capture_payment(
        oid, order.total, "EUR", PaymentMethod.CARD, "tok", idempotency_key=f"{oid}:pay"
    )
    shipment = await tryton.create_shipment(
        oid, so.sales_order_id, ADDRESS, order.lines, idempotency_key=f"{oid}:ship"
    )
    assert shipment.status is ShipmentStatus.CREATED

    # The saga, newest first; every undo twice (a retried undo must be harmless).
    for _ in range(2):
        cancelled = await tryton.cancel_shipment(shipment.shipment_id, idempotency_key="u1")
        assert cancelled.status is ShipmentStatus.CANCELLED
        refunded = await tryton.refund_payment(payment.payment_id, idempotency_key="u2")
        assert refunded.status == "refunded" and refunded.amount == order.total
        sale = await tryton.cancel_sales_order(so.sales_order_id, idempotency_key="u3")
        assert sale.status is SalesOrderStatus.CANCELLED
        released = await tryton.release_stock(reservation.reservation_id, idempotency_key="u4")
        assert released.status == "released"

    (record,) = await tryton._search(
        "sale.sale", [("reference", "=", oid)], ["state", "shipment_state", "invoice_state"]
    )
    # Tryton ends a processed sale whose moves were all cancelled and set aside as done.
    assert record["state"] == "done" and record["shipment_state"] != "exception"
    origin = f"sale.sale,{so.sales_order_id}"
    assert await count(tryton, "account.payment", [("origin", "=", origin)]) == {"succeeded": 2}
    refunds = await tryton._search(
        "account.payment", [("origin", "=", origin), ("kind", "=", "payable")], ["amount"]
    )
    assert [r["amount"] for r in refunds] == [order.total]
    stock = await tryton.check_stock(order.lines)
    assert stock.lines[0].available == 10_000  # nothing held any more
    changes = await tryton.order_changes(None, None, 50)
    (mine,) = [c for c in changes.items if c.order_id == oid]
    assert mine.status is SalesOrderStatus.CANCELLED


@needs_tryton
async def test_cancel_a_sale_straight_after_confirmation(tryton: TrytonErpClient) -> None:
    order = make_order("ORD-T-9", ("SKU-007", 1, "69.00"))
    so = await tryton.create_sales_order(order, idempotency_key="ORD-T-9:so")
    payment = await tryton.capture_payment(
        "ORD-T-9", order.total, "EUR", PaymentMethod.CARD, None, idempotency_key="ORD-T-9:pay"
    )
    await tryton.refund_payment(payment.payment_id, idempotency_key="ORD-T-9:refund")
    sale = await tryton.cancel_sales_order(so.sales_order_id, idempotency_key="ORD-T-9:cancel")
    assert sale.status is SalesOrderStatus.CANCELLED
    (record,) = await sale_records(tryton, "ORD-T-9")
    assert await count(tryton, "stock.shipment.out", [("id", "in", record["shipments"])]) == {
        "cancelled": 1
    }
    # A quotation that never got confirmed is cancelled the plain way.
    env = await tryton._environment()
    draft = await tryton._new_sale(make_order("ORD-T-10", ("SKU-007", 1, "69.00")), env)
    sale = await tryton.cancel_sales_order(str(draft), idempotency_key="ORD-T-10:cancel")
    assert sale.status is SalesOrderStatus.CANCELLED


@needs_tryton
async def test_compensation_after_delivery_credits_and_requests_a_return(
    tryton: TrytonErpClient,
) -> None:
    order = make_order("ORD-T-11", ("SKU-005", 2, "24.00"))
    ids = await run_to_invoice(tryton, order)
    for _ in range(2):
        credited = await tryton.credit_invoice(ids["invoice"], idempotency_key="ORD-T-11:credit")
        assert credited.status == "credited" and credited.amount == Decimal("48.00")
        shipment = await tryton.cancel_shipment(ids["shipment"], idempotency_key="ORD-T-11:ship")
        assert shipment.status is ShipmentStatus.RETURN_REQUESTED
        refunded = await tryton.refund_payment(ids["payment"], idempotency_key="ORD-T-11:pay")
        assert refunded.status == "refunded"
    returns = await tryton._search(
        "stock.shipment.out.return",
        [("reference", "=", "ORD-T-11")],
        ["state", "incoming_moves"],
    )
    assert len(returns) == 1 and returns[0]["state"] == "draft"
    assert len(returns[0]["incoming_moves"]) == 1
    credit_notes = await tryton._search(
        "account.invoice", [("total_amount", "=", Decimal("-48.00"))], ["state"]
    )
    assert [c["state"] for c in credit_notes] == ["paid"]  # posted and reconciled with the invoice
    # Goods that left cannot be un-sold in Tryton: the sale is refused, and says why.
    with pytest.raises(BusinessRuleError, match="delivered") as err:
        await tryton.cancel_sales_order(ids["sale"], idempotency_key="ORD-T-11:cancel")
    assert err.value.code == "SaleDelivered"


@needs_tryton
async def test_change_feeds_page_with_a_cursor(tryton: TrytonErpClient) -> None:
    customers = await tryton.customer_changes(None, None, 50)
    assert [c.customer_id for c in customers.items] == [f"C-10{i}" for i in range(6)]
    assert customers.next_cursor is None
    ada = customers.items[0]
    assert ada.email == "ada@example.com" and ada.company == "ACME"

    before = dt.datetime.now(dt.UTC)
    for n in (1, 2, 3):
        order = make_order(f"ORD-F-{n}", ("SKU-008", n, "9.90"))
        await tryton.create_sales_order(order, idempotency_key=f"ORD-F-{n}:so")
    seen: list[str] = []
    cursor: str | None = None
    for _ in range(10):
        page = await tryton.order_changes(before - dt.timedelta(seconds=1), cursor, 2)
        seen += [c.order_id for c in page.items]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == ["ORD-F-1", "ORD-F-2", "ORD-F-3"]
    later = await tryton.order_changes(dt.datetime.now(dt.UTC) + dt.timedelta(hours=1), None, 10)
    assert later.items == [] and later.next_cursor is None


@needs_tryton
async def test_change_feeds_skip_nothing_when_records_share_a_timestamp(
    tryton: TrytonErpClient,
) -> None:
    await tryton._environment()
    # Pages of two from the start: the archived C-103 comes on a page after a cursor too.
    seen: list[str] = []
    cursor: str | None = None
    for _ in range(10):
        page = await tryton.customer_changes(None, cursor, 2)
        seen += [c.customer_id for c in page.items]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == [f"C-10{n}" for n in range(6)]

    # The archived C-103 changes first, moments before the tie below: the late-commit window is
    # measured against this write, not against when the template was made (a cached one can be
    # days old).
    # (An archived party's fields are read-only; archiving it again is a write all the same.)
    [archived] = await tryton._search(
        "party.party", [("code", "=", "C-103"), ("active", "in", [True, False])], ["active"]
    )
    await tryton._rpc(
        "model.party.party.write", [archived["id"]], {"active": False}, tryton._context()
    )
    active = await tryton._search(
        "party.party", [("code", "like", "C-%")], ["name"], order=[("id", "ASC")]
    )
    # One JSON-RPC write of five parties: one transaction, so one write_date for all five.
    pairs: list[Any] = []
    for party in active:
        pairs += [[party["id"]], {"name": party["name"]}]
    await tryton._rpc("model.party.party.write", *pairs, tryton._context())
    everyone = await tryton.customer_changes(None, None, 50)
    stamp = everyone.items[-1].updated_at
    shared = [c.customer_id for c in everyone.items if c.updated_at == stamp]
    assert shared == ["C-100", "C-101", "C-102", "C-104", "C-105"]

    # Pages of one: the cursor (time and id) walks through the tie, each record once.
    seen, cursor = [], None
    for _ in range(20):
        page = await tryton.customer_changes(None, cursor, 1)
        seen += [c.customer_id for c in page.items]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == ["C-103", *shared]  # the archived C-103 was written before
    # updated_since is inclusive, and starts the late-commit window earlier: a transaction
    # stamped `stamp` may commit after the sync read past it (Tryton stamps the transaction's
    # start), so a read since a later watermark within the window still brings the tie (and
    # C-103, written moments before it); past the window nothing comes.
    window = dt.timedelta(seconds=tryton._settings.late_commit_window)
    for since in (stamp, stamp + window / 2):
        again = await tryton.customer_changes(since, None, 50)
        assert [c.customer_id for c in again.items] == ["C-103", *shared]
        assert again.next_cursor is None
    after = await tryton.customer_changes(stamp + window + dt.timedelta(microseconds=1), None, 50)
    assert after.items == [] and after.next_cursor is None
    with pytest.raises(InvalidRequestError, match="bad cursor"):
        await tryton.customer_changes(None, "not-a-cursor", 1)


@needs_tryton
async def test_bad_application_key_is_refused_for_good(tryton_server: TrytonServer) -> None:
    client = TrytonErpClient(tryton_server.settings(application_key="not-the-key"))
    try:
        with pytest.raises(InvalidRequestError) as err:
            await client.get_credit("C-100")
        assert err.value.status == 401 and err.value.code == "Unauthorized"
        assert not err.value.retryable
    finally:
        await client.aclose()


@needs_tryton
async def test_expired_session_logs_in_again_once(tryton: TrytonErpClient) -> None:
    order = make_order("ORD-T-12", ("SKU-009", 1, "12.50"))
    await tryton.create_sales_order(order, idempotency_key="ORD-T-12:so")
    await tryton._login()
    tryton._session = "Y29udGludXVtLWFwaToyOmV4cGlyZWQ="  # a session Tryton does not know
    payment = await tryton.capture_payment(  # runs the payment wizard over JSON-RPC
        "ORD-T-12", order.total, "EUR", PaymentMethod.CARD, None, idempotency_key="k"
    )
    assert payment.status == "captured"
    assert tryton._session != "Y29udGludXVtLWFwaToyOmV4cGlyZWQ="


@needs_tryton
async def test_wrong_password_is_refused_for_good(tryton_server: TrytonServer) -> None:
    client = TrytonErpClient(tryton_server.settings(password="wrong"))
    try:
        with pytest.raises(InvalidRequestError) as err:
            await client._rpc("model.res.user.get_preferences", True, {})
        assert err.value.code == "LoginFailed" and not err.value.retryable
    finally:
        await client.aclose()


@needs_tryton
async def test_unknown_records_are_not_found(tryton: TrytonErpClient) -> None:
    when = dt.datetime.now(dt.UTC)
    with pytest.raises(NotFoundError):
        await tryton.confirm_delivery("999999", when, idempotency_key="x")
    with pytest.raises(NotFoundError):
        await tryton.cancel_sales_order("not-an-id", idempotency_key="x")
    with pytest.raises(NotFoundError):
        await tryton.credit_invoice("424242", idempotency_key="x")
    with pytest.raises(NotFoundError):
        await tryton.release_stock("something-else", idempotency_key="x")


@needs_tryton
async def test_tryton_down_is_transient(tryton_server: TrytonServer) -> None:
    client = TrytonErpClient(tryton_server.settings())
    try:
        await client.get_credit("C-100")
        tryton_server.process.stop()
        with pytest.raises(TransientError) as err:
            await client.get_credit("C-100")
        assert err.value.retryable and err.value.code == "ConnectionError"
    finally:
        await client.aclose()


# ---------------------------------------------------------------------------------------------
# Classification against canned answers: no Tryton needed

SETTINGS = TrytonSettings(
    url="http://tryton.test", database="db", application_key="k", login="u", password="p"
)
COMPANY = [
    {
        "id": 1,
        "party": 1,
        "currency": {"id": 1, "code": "EUR"},
    }
]


def canned(answer: Callable[[httpx.Request], httpx.Response]) -> TrytonErpClient:
    def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path.endswith("/rest/model/company.company"):
            return httpx.Response(200, json=COMPANY)
        if path.endswith("/rest/model/stock.location"):
            return httpx.Response(200, json=[{"id": 5, "input_location": 6, "storage_location": 7}])
        if path.endswith("/rest/model/account.payment.journal"):
            return httpx.Response(200, json=[{"id": 1}])
        return answer(request)

    return TrytonErpClient(SETTINGS, transport=httpx.MockTransport(handler))


@pytest.mark.parametrize(
    ("status", "headers", "kind", "retry_after"),
    [
        (429, {"Retry-After": "7"}, TransientError, 7.0),
        (503, {"Retry-After": "2"}, TransientError, 2.0),
        (504, {}, TransientError, None),
        (502, {}, TransientError, None),
        (500, {}, InvalidRequestError, None),
        (403, {}, InvalidRequestError, None),
        (404, {}, NotFoundError, None),
        (401, {}, InvalidRequestError, None),
    ],
)
async def test_http_statuses_are_classified(
    status: int, headers: dict[str, str], kind: type[Exception], retry_after: float | None
) -> None:
    client = canned(lambda request: httpx.Response(status, headers=headers, text="nope"))
    try:
        with pytest.raises(kind) as err:
            await client.get_credit("C-100")
        assert type(err.value) is kind
        assert getattr(err.value, "retry_after", None) == retry_after
        assert getattr(err.value, "status", None) == status
    finally:
        await client.aclose()


async def test_a_retry_after_given_as_an_http_date_is_honoured() -> None:
    # Tryton behind a proxy may answer with a date; the old parser took it for "no hint".
    when = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=120)
    headers = {"Retry-After": format_datetime(when, usegmt=True)}
    client = canned(lambda request: httpx.Response(503, headers=headers, text="busy"))
    try:
        with pytest.raises(TransientError) as err:
            await client.get_credit("C-100")
        assert err.value.retry_after is not None and 100 < err.value.retry_after <= 120
    finally:
        await client.aclose()


async def test_rest_user_error_keeps_trytons_message() -> None:
    body = {"status": 400, "message": 'The sale "1" must be quoted.', "description": ""}
    client = canned(lambda request: httpx.Response(400, json=body))
    try:
        with pytest.raises(BusinessRuleError, match=r'The sale "1" must be quoted\.') as err:
            await client.get_credit("C-100")
        assert err.value.code == "UserError" and not err.value.retryable
    finally:
        await client.aclose()


def rpc_answer(error: list[Any]) -> Callable[[httpx.Request], httpx.Response]:
    def answer(request: httpx.Request) -> httpx.Response:
        payload = json.loads(request.content)
        if payload["method"] == "common.db.login":
            return httpx.Response(200, json={"id": payload["id"], "result": [2, "token", None]})
        return httpx.Response(200, json={"id": payload["id"], "error": error})

    return answer


@pytest.mark.parametrize(
    ("error", "kind", "code", "text"),
    [
        (["UserError", ["Not enough stock.", "Ask the warehouse.", None]], BusinessRuleError,
         "UserError", "Not enough stock. Ask the warehouse."),
        (["UserWarning", ["w1", "Credit limit reached.", ""]], BusinessRuleError, "UserWarning",
         "Credit limit reached."),
        (["ConcurrencyException", "Records were modified in the meanwhile"], TransientError,
         "Concurrency", "modified"),
        (["KeyError: 'x'", "Traceback ..."], InvalidRequestError, "ServerError", "KeyError"),
    ],
)  # fmt: skip
async def test_json_rpc_errors_are_classified(
    error: list[Any], kind: type[Exception], code: str, text: str
) -> None:
    client = canned(rpc_answer(error))
    try:
        with pytest.raises(kind, match=text) as err:
            await client._rpc("model.sale.sale.read", [1], ["state"], {})
        assert isinstance(err.value, kind)
        assert getattr(err.value, "code", None) == code
    finally:
        await client.aclose()


async def test_json_rpc_401_logs_in_again_once_then_gives_up() -> None:
    logins = 0
    calls = 0

    def answer(request: httpx.Request) -> httpx.Response:
        nonlocal logins, calls
        payload = json.loads(request.content)
        if payload["method"] == "common.db.login":
            logins += 1
            return httpx.Response(200, json={"id": 0, "result": [2, f"t{logins}", None]})
        calls += 1
        return httpx.Response(401)

    client = canned(answer)
    try:
        with pytest.raises(InvalidRequestError) as err:
            await client._rpc("model.sale.sale.read", [1], ["state"], {})
        assert err.value.status == 401
        assert (logins, calls) == (2, 2)
    finally:
        await client.aclose()


async def test_login_lockout_is_transient() -> None:
    client = canned(lambda request: httpx.Response(429))
    try:
        with pytest.raises(TransientError) as err:
            await client._rpc("model.sale.sale.read", [1], ["state"], {})
        assert err.value.code == "LoginRateLimited" and err.value.retry_after == 300.0
    finally:
        await client.aclose()


async def test_timeouts_and_refused_connections_are_transient() -> None:
    def hang(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    client = canned(hang)
    try:
        with pytest.raises(TransientError) as err:
            await client.get_credit("C-100")
        assert err.value.code == "Timeout"
    finally:
        await client.aclose()


@needs_tryton
async def test_release_stock_unassigns_a_live_shipment(tryton: TrytonErpClient) -> None:
    order = make_order("ORD-T-13", ("SKU-010", 5, "22.00"))
    reservation = await tryton.reserve_stock("ORD-T-13", order.lines, idempotency_key="r")
    # A retried reservation after the sale exists is still good (the sale holds the stock).
    so = await tryton.create_sales_order(order, idempotency_key="ORD-T-13:so")
    assert await tryton.reserve_stock("ORD-T-13", order.lines, idempotency_key="r") == reservation
    (sale,) = await sale_records(tryton, "ORD-T-13")
    (shipment_id,) = sale["shipments"]
    await tryton._button("stock.shipment.out", shipment_id, "assign_try")
    for _ in range(2):
        released = await tryton.release_stock(reservation.reservation_id, idempotency_key="x")
        assert released.status == "released"
    record = await tryton._read("stock.shipment.out", shipment_id, ["state"])
    assert record["state"] == "waiting"
    # Packed goods are not un-assigned by Tryton: only cancelling the shipment frees them.
    await tryton.create_shipment(
        "ORD-T-13", so.sales_order_id, ADDRESS, order.lines, idempotency_key="s"
    )
    with pytest.raises(BusinessRuleError, match="packed"):
        await tryton.release_stock(reservation.reservation_id, idempotency_key="x")


@dataclass
class _WorkerSettings:
    erp_url: str = "http://tryton.test:8000"
    http_timeout_seconds: float = 7.0
    tryton_credentials_file: Path | None = None


async def test_from_settings_reads_the_credentials_file_setup_wrote(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="TRYTON_CREDENTIALS_FILE"):
        TrytonErpClient.from_settings(_WorkerSettings())

    stored = {"database": "db2", "login": "api", "password": "p2", "application_key": "k2"}
    path = tmp_path / "api-credentials.json"
    path.write_text(json.dumps(stored))
    client = TrytonErpClient.from_settings(_WorkerSettings(tryton_credentials_file=path))
    assert client._settings == TrytonSettings(
        url="http://tryton.test:8000",
        database="db2",
        application_key="k2",
        login="api",
        password="p2",
        timeout=7.0,
    )
    await client.aclose()
