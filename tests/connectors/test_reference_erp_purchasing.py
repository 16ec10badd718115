"""ReferenceErpClient's purchasing (PurchasingPort) against the real reference ERP process,
shared by the module (each test buys under its own requisition ids)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, TypeVar

import httpx
import pytest

from connectors.reference_erp import ReferenceErpClient
from domain.erp import ErpReceiptStatus, ErpSupplierInvoiceStatus, PurchasingPort
from domain.errors import (
    BusinessRuleError,
    ConflictError,
    InvalidRequestError,
    NotFoundError,
    TransientError,
)
from domain.purchasing.models import (
    DocumentKind,
    PurchaseOrderStatus,
    Supplier,
    SupplierStatus,
)
from tests.conftest import ServiceHandle
from tests.services.purchasing_samples import due, invoice, receipt, requisition

T = TypeVar("T")


@pytest.fixture(scope="module")
async def erp(module_erp: ServiceHandle) -> AsyncIterator[ReferenceErpClient]:
    client = ReferenceErpClient(module_erp.url, module_erp.api_token, timeout=5)
    yield client
    await client.aclose()


async def _documents(service: ServiceHandle, rid: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=service.url) as api:
        response = await api.get(
            f"/api/requisitions/{rid}/documents",
            headers={"Authorization": f"Bearer {service.api_token}"},
        )
    result: dict[str, Any] = response.json()
    return result


async def _set_faults(service: ServiceHandle, **config: Any) -> None:
    async with httpx.AsyncClient(base_url=service.url) as admin:
        response = await admin.put(
            "/admin/faults",
            json=config,
            headers={"Authorization": f"Bearer {service.admin_token}"},
        )
        assert response.status_code == 200, response.text


async def test_every_purchasing_method_and_its_idempotent_repeat(
    erp: ReferenceErpClient, module_erp: ServiceHandle
) -> None:
    port: PurchasingPort = erp  # the client satisfies the port (checked by mypy)
    req = requisition()
    rid = req.requisition_id

    async def repeated(call: Callable[..., Awaitable[T]], *args: object, key: str) -> T:
        """The call, then the same call again: the same record, and nothing more in the ERP."""
        first = await call(*args, idempotency_key=f"{rid}:{key}")
        before = await _documents(module_erp, rid)
        assert await call(*args, idempotency_key=f"{rid}:{key}") == first
        assert await _documents(module_erp, rid) == before
        return first

    supplier = await port.get_supplier("SUP-100")
    assert supplier == Supplier(
        supplier_id="SUP-100",
        name="Bean Roasters GmbH",
        currency="EUR",
        email="orders@beanroasters.example",
    )
    order = await repeated(port.create_purchase_order, req, key="po")
    po = order.purchase_order_id
    assert (order.status, order.total, order.supplier_id) == (
        PurchaseOrderStatus.SENT,
        Decimal("285.00"),
        "SUP-100",
    )
    reminded = await repeated(port.remind_supplier, po, key="remind:1")
    assert reminded.status is PurchaseOrderStatus.SENT
    assert (await _documents(module_erp, rid))["reminders"] == 1
    confirmed = await repeated(port.confirm_purchase_order, po, "AB-1", key="confirm")
    assert (confirmed.status, confirmed.supplier_reference) == (
        PurchaseOrderStatus.CONFIRMED,
        "AB-1",
    )

    goods = await repeated(port.record_goods_receipt, po, receipt(rid), key="receipt:WH-1")
    assert (goods.status, goods.receipt_id, goods.purchase_order_id) == (
        ErpReceiptStatus.RECORDED,
        "WH-1",
        po,
    )
    bill = await repeated(port.post_supplier_invoice, po, invoice(rid), key=f"invoice:INV-{rid}")
    assert (bill.status, bill.net, bill.tax, bill.kind, bill.reference) == (
        ErpSupplierInvoiceStatus.POSTED,
        Decimal("285.00"),
        Decimal("54.15"),
        "invoice",
        f"INV-{rid}",
    )
    part = due(f"INV-{rid}", [1], "148.75")
    payment = await repeated(port.pay_supplier, po, "SUP-100", part, key=part.key)
    assert (payment.status, payment.amount, payment.lines, payment.invoice_reference) == (
        "paid",
        Decimal("148.75"),
        [1],
        f"INV-{rid}",
    )
    assert await _documents(module_erp, rid) == {
        "requisition_id": rid,
        "purchase_orders": 1,
        "receipts": 1,
        "invoices": 1,
        "payments": 1,
        "reminders": 1,
    }

    # The undos, on a second purchase that is not paid (a paid invoice stays).
    other = requisition()
    oid = other.requisition_id
    po2 = (await port.create_purchase_order(other, idempotency_key=f"{oid}:po")).purchase_order_id
    goods2 = await port.record_goods_receipt(po2, receipt(oid), idempotency_key=f"{oid}:gr")
    bill2 = await port.post_supplier_invoice(po2, invoice(oid), idempotency_key=f"{oid}:inv")
    cancelled_bill = await port.cancel_supplier_invoice(
        bill2.erp_invoice_id, idempotency_key=f"{oid}:undo-inv"
    )
    assert cancelled_bill.status is ErpSupplierInvoiceStatus.CANCELLED
    returned = await port.return_goods(goods2.erp_receipt_id, idempotency_key=f"{oid}:undo-gr")
    assert returned.status is ErpReceiptStatus.RETURNED
    cancelled = await port.cancel_purchase_order(po2, idempotency_key=f"{oid}:undo-po")
    assert cancelled.status is PurchaseOrderStatus.CANCELLED
    again = await port.cancel_purchase_order(po2, idempotency_key=f"{oid}:undo-po-again")
    assert again == cancelled


async def test_a_duplicate_invoice_or_payment_is_a_non_retryable_conflict(
    erp: ReferenceErpClient,
) -> None:
    req = requisition()
    rid = req.requisition_id
    po = (await erp.create_purchase_order(req, idempotency_key=f"{rid}:po")).purchase_order_id
    first = await erp.post_supplier_invoice(po, invoice(rid), idempotency_key=f"{rid}:inv:1")
    with pytest.raises(ConflictError) as duplicate:
        await erp.post_supplier_invoice(po, invoice(rid), idempotency_key=f"{rid}:inv:2")
    assert (duplicate.value.code, duplicate.value.status) == ("DuplicateInvoice", 409)
    assert first.erp_invoice_id in duplicate.value.message and not duplicate.value.retryable

    whole = due(f"INV-{rid}")
    await erp.pay_supplier(po, "SUP-100", whole, idempotency_key=whole.key)
    with pytest.raises(ConflictError) as twice:
        await erp.pay_supplier(po, "SUP-100", whole, idempotency_key=f"{whole.key}:again")
    assert twice.value.code == "LineAlreadyPaid" and not twice.value.retryable

    credit = invoice(rid, f"CN-{rid}", kind=DocumentKind.CREDIT_NOTE)
    with pytest.raises(InvalidRequestError) as no_reference:
        await erp.post_supplier_invoice(po, credit, idempotency_key=f"{rid}:cn")
    assert (no_reference.value.code, no_reference.value.status) == ("ValidationError", 400)
    assert "credits_reference" in no_reference.value.message


async def test_a_blocked_supplier_is_readable_and_cannot_be_ordered_from(
    erp: ReferenceErpClient,
) -> None:
    blocked = await erp.get_supplier("SUP-103")
    assert (blocked.status, blocked.new) == (SupplierStatus.BLOCKED, False)
    newcomer = await erp.get_supplier("SUP-104")
    assert (newcomer.status, newcomer.new) == (SupplierStatus.ACTIVE, True)

    req = requisition(supplier_id="SUP-103")
    with pytest.raises(BusinessRuleError) as refused:
        await erp.create_purchase_order(req, idempotency_key=f"{req.requisition_id}:po")
    assert refused.value.code == "SupplierBlocked" and not refused.value.retryable
    with pytest.raises(NotFoundError):
        await erp.get_supplier("SUP-404")


async def test_injected_faults_are_transient_and_the_retry_writes_once(
    erp: ReferenceErpClient, module_erp: ServiceHandle
) -> None:
    req = requisition()
    rid = req.requisition_id
    await _set_faults(module_erp, error_rate=1.0, error_statuses=[503], retry_after_seconds=4)
    try:
        with pytest.raises(TransientError) as failed:
            await erp.create_purchase_order(req, idempotency_key=f"{rid}:po")
        assert (failed.value.status, failed.value.retry_after) == (503, 4)
        assert failed.value.retryable and "injected fault" in failed.value.message
        with pytest.raises(TransientError):
            await erp.purchase_changes(None, None, 10)
    finally:
        await _set_faults(module_erp)
    first = await erp.create_purchase_order(req, idempotency_key=f"{rid}:po")
    assert await erp.create_purchase_order(req, idempotency_key=f"{rid}:po") == first
    assert (await _documents(module_erp, rid))["purchase_orders"] == 1


async def test_a_hung_request_times_out_as_transient(module_erp: ServiceHandle) -> None:
    impatient = ReferenceErpClient(module_erp.url, module_erp.api_token, timeout=0.2)
    await _set_faults(module_erp, hang_rate=1.0, hang_seconds=1.0)
    try:
        with pytest.raises(TransientError) as hung:
            await impatient.get_supplier("SUP-100")
    finally:
        await _set_faults(module_erp)
        await impatient.aclose()
    assert hung.value.code == "Timeout"


async def test_the_purchase_feed_pages_through_the_orders(erp: ReferenceErpClient) -> None:
    since = datetime.now(UTC)
    created = []
    for _ in range(3):
        req = requisition()
        rid = req.requisition_id
        created.append(await erp.create_purchase_order(req, idempotency_key=f"{rid}:po"))
    rid, po = created[0].requisition_id, created[0].purchase_order_id
    await erp.record_goods_receipt(po, receipt(rid, lines={2: "1"}), idempotency_key=f"{rid}:gr")

    first = await erp.purchase_changes(since, None, 2)
    assert first.next_cursor is not None
    rest = await erp.purchase_changes(None, first.next_cursor, 2)
    assert rest.next_cursor is None
    items = first.items + rest.items
    # The order that got goods changed last, so it comes last.
    assert [i.purchase_order_id for i in items] == [o.purchase_order_id for o in created[1:]] + [po]
    assert (items[-1].received, items[-1].invoiced, items[-1].paid) == (
        Decimal("80.00"),
        Decimal(0),
        Decimal(0),
    )
    assert (items[0].status, items[0].total, items[0].currency) == (
        "sent",
        Decimal("285.00"),
        "EUR",
    )
    later = await erp.purchase_changes(datetime.now(UTC), None, 2)
    assert later.items == [] and later.next_cursor is None
