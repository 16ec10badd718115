"""ReferenceErpClient against the real reference ERP process, and its error classification."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from email.utils import format_datetime
from typing import Any

import httpx
import pytest

from connectors.http_errors import error_for_status, parse_retry_after
from connectors.reference_erp import ReferenceErpClient
from continuum.supervisor import free_port
from domain.credit import CreditStatus
from domain.erp import ErpPort, SalesOrderStatus, ShipmentStatus
from domain.errors import (
    BusinessRuleError,
    ConflictError,
    IntegrationError,
    InvalidRequestError,
    NotFoundError,
    TransientError,
)
from domain.orders.models import PaymentMethod
from tests.conftest import ServiceHandle
from tests.samples import order


@pytest.fixture
async def erp(erp_service: ServiceHandle) -> AsyncIterator[ReferenceErpClient]:
    client = ReferenceErpClient(erp_service.url, erp_service.api_token, timeout=5)
    yield client
    await client.aclose()


async def _set_faults(service: ServiceHandle, **config: Any) -> None:
    async with httpx.AsyncClient(base_url=service.url) as admin:
        response = await admin.put(
            "/admin/faults",
            json=config,
            headers={"Authorization": f"Bearer {service.admin_token}"},
        )
        assert response.status_code == 200, response.text


async def test_every_port_method_against_the_service(erp: ReferenceErpClient) -> None:
    port: ErpPort = erp  # the client satisfies the port (checked by mypy)
    sample = order(order_id="O-port", quantity=3)
    oid = sample.order_id

    credit = await port.get_credit("C-100")
    assert credit == CreditStatus(
        customer_id="C-100", credit_limit=Decimal("50000"), exposure=Decimal(0), blocked=False
    )
    stock = await port.check_stock(sample.lines)
    assert [(s.sku, s.requested, s.available) for s in stock.lines] == [("SKU-001", 3, 10_000)]
    assert not stock.shortages

    reservation = await port.reserve_stock(oid, sample.lines, idempotency_key=f"{oid}:reserve")
    assert (reservation.order_id, reservation.status) == (oid, "active")
    sales_order = await port.create_sales_order(sample, idempotency_key=f"{oid}:so")
    again = await port.create_sales_order(sample, idempotency_key=f"{oid}:so")
    assert again == sales_order
    assert (sales_order.status, sales_order.total) == (SalesOrderStatus.OPEN, Decimal("149.70"))
    assert (await port.get_credit("C-100")).exposure == Decimal("149.70")

    payment = await port.capture_payment(
        oid,
        sample.total,
        "EUR",
        PaymentMethod.CARD,
        "tok_visa",
        idempotency_key=f"{oid}:pay",
    )
    assert (payment.status, payment.amount) == ("captured", Decimal("149.70"))
    assert (await port.get_credit("C-100")).exposure == 0

    so_id = sales_order.sales_order_id
    shipment = await port.create_shipment(
        oid, so_id, sample.shipping_address, sample.lines, idempotency_key=f"{oid}:ship"
    )
    assert shipment.status is ShipmentStatus.CREATED and shipment.tracking_number
    delivered_at = datetime(2025, 3, 1, 9, 30, tzinfo=UTC)
    delivered = await port.confirm_delivery(
        shipment.shipment_id, delivered_at, idempotency_key=f"{oid}:deliver"
    )
    assert delivered.status is ShipmentStatus.DELIVERED
    invoice = await port.create_invoice(oid, so_id, idempotency_key=f"{oid}:invoice")
    assert (invoice.status, invoice.amount) == ("posted", Decimal("149.70"))

    # Undo everything in saga order.
    assert (await port.credit_invoice(invoice.invoice_id, idempotency_key=f"{oid}:u1")).status == (
        "credited"
    )
    returned = await port.cancel_shipment(shipment.shipment_id, idempotency_key=f"{oid}:u2")
    assert returned.status is ShipmentStatus.RETURN_REQUESTED
    refunded = await port.refund_payment(payment.payment_id, idempotency_key=f"{oid}:u3")
    assert refunded.status == "refunded"
    cancelled = await port.cancel_sales_order(so_id, idempotency_key=f"{oid}:u4")
    assert cancelled.status is SalesOrderStatus.CANCELLED
    released = await port.release_stock(reservation.reservation_id, idempotency_key=f"{oid}:u5")
    assert released.status == "released"
    assert (await port.get_credit("C-100")).exposure == 0

    changes = await port.order_changes(None, None, 10)
    assert [(c.order_id, c.status, c.customer_name) for c in changes.items] == [
        (oid, SalesOrderStatus.CANCELLED, "Ada Lovelace")
    ]
    assert changes.next_cursor is None
    first = await port.customer_changes(None, None, 4)
    rest = await port.customer_changes(None, first.next_cursor, 4)
    ids = [c.customer_id for c in first.items + rest.items]
    assert ids == ["C-100", "C-101", "C-102", "C-103", "C-104", "C-105"]
    assert first.next_cursor and rest.next_cursor is None
    later = await port.customer_changes(datetime.now(UTC) + timedelta(hours=1), None, 4)
    assert later.items == [] and later.next_cursor is None


async def test_refusals_become_typed_non_retryable_errors(
    erp: ReferenceErpClient, erp_service: ServiceHandle
) -> None:
    with pytest.raises(BusinessRuleError) as declined:
        await erp.capture_payment(
            "O-x", Decimal(5), "EUR", PaymentMethod.CARD, "tok_declined", idempotency_key="k1"
        )
    assert (declined.value.code, declined.value.status) == ("PaymentDeclined", 422)
    assert "declined" in declined.value.message and not declined.value.retryable

    with pytest.raises(BusinessRuleError) as short:
        await erp.reserve_stock("O-x", order(sku="SKU-011").lines, idempotency_key="k2")
    assert short.value.code == "InsufficientStock" and "SKU-011" in short.value.message

    with pytest.raises(NotFoundError) as missing:
        await erp.get_credit("C-404")
    assert (missing.value.code, missing.value.status) == ("NotFound", 404)
    assert "C-404" in missing.value.message

    await erp.reserve_stock("O-x", order().lines, idempotency_key="k3")
    with pytest.raises(ConflictError) as conflict:
        await erp.reserve_stock("O-x", order(quantity=9).lines, idempotency_key="k3")
    assert conflict.value.code == "IdempotencyConflict" and not conflict.value.retryable

    with pytest.raises(InvalidRequestError) as invalid:
        await erp.capture_payment(
            "O-x", Decimal(5), "EUR", PaymentMethod.CARD, None, idempotency_key="k4"
        )
    assert (invalid.value.code, invalid.value.status) == ("ValidationError", 400)
    assert "reference" in invalid.value.message

    async with httpx.AsyncClient() as shared:
        intruder = ReferenceErpClient(erp_service.url, "wrong-token", client=shared)
        with pytest.raises(InvalidRequestError) as unauthorized:
            await intruder.get_credit("C-100")
        await intruder.aclose()
        assert not shared.is_closed  # a client passed in belongs to the caller
    assert (unauthorized.value.code, unauthorized.value.status) == ("Unauthorized", 401)
    assert not isinstance(unauthorized.value, NotFoundError | ConflictError)


async def test_injected_503_and_429_are_transient_with_retry_after(
    erp: ReferenceErpClient, erp_service: ServiceHandle
) -> None:
    sample = order(order_id="O-faulty")
    for status, wait in ((503, 7), (429, 3)):
        await _set_faults(
            erp_service, error_rate=1.0, error_statuses=[status], retry_after_seconds=wait
        )
        with pytest.raises(TransientError) as failed:
            await erp.create_sales_order(sample, idempotency_key="O-faulty:so")
        assert failed.value.retryable and failed.value.status == status
        assert failed.value.retry_after == wait
        assert "injected fault" in failed.value.message
    await _set_faults(erp_service)
    created = await erp.create_sales_order(sample, idempotency_key="O-faulty:so")
    assert created.order_id == "O-faulty"


async def test_an_outage_window_fails_writes_transiently_and_a_retry_writes_once(
    erp: ReferenceErpClient, erp_service: ServiceHandle
) -> None:
    # A window that has not started yet lets calls through.
    await _set_faults(erp_service, outage_start_in=3600, outage_seconds=60)
    assert (await erp.get_credit("C-101")).customer_id == "C-101"

    await _set_faults(erp_service, outage_start_in=0, outage_seconds=3600, retry_after_seconds=5)
    payment = ("O-outage", Decimal("10.00"), "EUR", PaymentMethod.INVOICE, None)
    for _ in range(3):
        with pytest.raises(TransientError) as failed:
            await erp.capture_payment(*payment, idempotency_key="O-outage:pay")
        assert (failed.value.status, failed.value.retry_after) == (503, 5)

    await _set_faults(erp_service)  # the outage is over
    first = await erp.capture_payment(*payment, idempotency_key="O-outage:pay")
    second = await erp.capture_payment(*payment, idempotency_key="O-outage:pay")
    assert first == second
    async with httpx.AsyncClient(base_url=erp_service.url) as api:
        listed = await api.get(
            "/api/payments",
            params={"order_id": "O-outage"},
            headers={"Authorization": f"Bearer {erp_service.api_token}"},
        )
    assert [p["payment_id"] for p in listed.json()["items"]] == [first.payment_id]


async def test_a_hung_request_times_out_as_transient(erp_service: ServiceHandle) -> None:
    await _set_faults(erp_service, hang_rate=1.0, hang_seconds=1.0)
    impatient = ReferenceErpClient(erp_service.url, erp_service.api_token, timeout=0.2)
    started = time.monotonic()
    with pytest.raises(TransientError) as hung:
        await impatient.get_credit("C-100")
    await impatient.aclose()
    assert time.monotonic() - started < 1.0  # the client gave up, not the server
    assert hung.value.code == "Timeout" and hung.value.retryable


async def test_a_refused_connection_is_transient() -> None:
    nobody = ReferenceErpClient(f"http://127.0.0.1:{free_port()}", "token", timeout=2)
    with pytest.raises(TransientError) as refused:
        await nobody.get_credit("C-100")
    await nobody.aclose()
    assert refused.value.code == "ConnectionError"


# --- classification rules (pure) --------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "kind", "code"),
    [
        (422, BusinessRuleError, "InsufficientStock"),
        (404, NotFoundError, "NotFound"),
        (409, ConflictError, "IdempotencyConflict"),
        (400, InvalidRequestError, "ValidationError"),
        (401, InvalidRequestError, "Unauthorized"),
        (403, InvalidRequestError, "Forbidden"),
        (408, TransientError, "RequestTimeout"),
        (429, TransientError, "RateLimited"),
        (500, TransientError, "InternalError"),
        (502, TransientError, "ServerError"),
    ],
)
def test_http_statuses_map_to_domain_errors(
    status: int, kind: type[IntegrationError], code: str
) -> None:
    body: Any = {"error": {"code": code, "message": "why"}}
    if code in ("Forbidden", "RequestTimeout", "RateLimited", "ServerError"):
        body = "<html>proxy says no</html>"  # no JSON: the code falls back to the status
    error = error_for_status("erp", status, body, {"retry-after": "2"})
    assert type(error) is kind
    assert (error.code, error.status, error.retryable) == (code, status, kind is TransientError)
    assert error.retry_after == (2.0 if kind is TransientError else None)


def test_error_bodies_of_other_shapes_carry_their_message() -> None:
    hubspot = {"status": "error", "category": "VALIDATION_ERROR", "message": "bad email"}
    error = error_for_status("crm", 400, hubspot)
    assert (error.code, error.message, error.system) == ("VALIDATION_ERROR", "bad email", "crm")
    assert error_for_status("crm", 404, {"detail": "Not Found"}).message == "Not Found"


def test_retry_after_is_read_as_seconds_or_an_http_date() -> None:
    now = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
    assert parse_retry_after("120", now) == 120.0
    assert parse_retry_after(format_datetime(now + timedelta(seconds=90), usegmt=True), now) == 90
    assert parse_retry_after("Wed, 01 Jan 2020 00:00:00 GMT", now) == 0.0
    assert parse_retry_after("soon", now) is None
    assert parse_retry_after(None, now) is None
