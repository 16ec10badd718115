"""The reference ERP over HTTP, as a real process (fixtures in tests/conftest.py)."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.erp.idempotency import RETENTION
from services.erp.store import format_ts
from tests.conftest import ServiceFactory, ServiceHandle
from tests.samples import order

Json = dict[str, Any]


@pytest.fixture
async def api(erp_service: ServiceHandle) -> AsyncIterator[httpx.AsyncClient]:
    async with _client(erp_service) as client:
        yield client


def _client(service: ServiceHandle) -> httpx.AsyncClient:
    auth = {"Authorization": f"Bearer {service.api_token}"}
    return httpx.AsyncClient(base_url=service.url, headers=auth, timeout=10)


def _key() -> str:
    return f"test:{uuid.uuid4().hex}"


async def _post(api: httpx.AsyncClient, path: str, body: Json | None = None) -> Json:
    """A write that must succeed; returns its body."""
    response = await api.post(path, json=body, headers={"Idempotency-Key": _key()})
    assert response.status_code in (200, 201), response.text
    result: Json = response.json()
    return result


async def _product(api: httpx.AsyncClient, sku: str) -> Json:
    response = await api.get(f"/api/products/{sku}")
    assert response.status_code == 200
    result: Json = response.json()
    return result


def _count(db: Path, sql: str, *params: object) -> int:
    with sqlite3.connect(db) as conn:
        value: int = conn.execute(sql, params).fetchone()[0]
    return value


def _error(response: httpx.Response) -> tuple[int, str, str]:
    error = response.json()["error"]
    return response.status_code, error["code"], error["message"]


async def _sales_order(api: httpx.AsyncClient, **changes: Any) -> Json:
    return await _post(api, "/api/sales-orders", order(**changes).model_dump(mode="json"))


# --- auth, health, start-up -------------------------------------------------------------------


async def test_health_is_open_and_the_api_needs_the_bearer_token(
    erp_service: ServiceHandle,
) -> None:
    async with httpx.AsyncClient(base_url=erp_service.url) as anonymous:
        assert (await anonymous.get("/healthz")).json() == {"status": "ok"}
        assert (await anonymous.get("/readyz")).json() == {"status": "ok"}
        assert "/api/reservations" in (await anonymous.get("/openapi.json")).json()["paths"]

        response = await anonymous.get("/api/customers/C-100/credit")
        assert _error(response)[:2] == (401, "Unauthorized")
        assert response.headers["www-authenticate"] == "Bearer"
        wrong = {"Authorization": "Bearer nope"}
        assert (await anonymous.get("/api/products/SKU-001", headers=wrong)).status_code == 401
        write = await anonymous.post("/api/reservations", headers={"Idempotency-Key": "k"})
        assert write.status_code == 401

        generate = await anonymous.post("/admin/generate", json={"customers": 1})
        assert _error(generate)[:2] == (401, "Unauthorized")
    async with _client(erp_service) as api:
        credit = (await api.get("/api/customers/C-100/credit")).json()
        assert credit == {
            "customer_id": "C-100",
            "credit_limit": "50000.00",
            "exposure": "0.00",
            "blocked": False,
        }


def test_refuses_to_start_without_an_api_token(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "ERP_API_TOKEN"}
    argv = [sys.executable, "-m", "services.erp", "--db", str(tmp_path / "erp.db"), "--port", "1"]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=30)
    assert done.returncode != 0
    assert "ERP_API_TOKEN" in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "erp.db").exists()


# --- idempotency ------------------------------------------------------------------------------


async def test_a_replayed_write_returns_the_stored_answer_and_writes_nothing(
    api: httpx.AsyncClient, erp_service: ServiceHandle
) -> None:
    body = {"order_id": "O-replay", "lines": [{"sku": "SKU-002", "quantity": 3}]}
    headers = {"Idempotency-Key": "O-replay:reserve_stock"}
    first = await api.post("/api/reservations", json=body, headers=headers)
    # The same request in another key order and with an ignored field is the same request.
    same = {
        "lines": [{"quantity": 3, "sku": "SKU-002", "unit_price": "1.00"}],
        "order_id": "O-replay",
    }
    again = await api.post("/api/reservations", json=same, headers=headers)

    assert first.status_code == again.status_code == 201
    assert again.content == first.content
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert (await _product(api, "SKU-002"))["reserved"] == 3
    listed = (await api.get("/api/reservations", params={"order_id": "O-replay"})).json()
    assert [r["reservation_id"] for r in listed["items"]] == [first.json()["reservation_id"]]
    db = erp_service.db_path
    assert _count(db, "SELECT COUNT(*) FROM reservations WHERE order_id = 'O-replay'") == 1
    assert _count(db, "SELECT reserved FROM products WHERE sku = 'SKU-002'") == 3
    stored = "SELECT COUNT(*) FROM idempotency_keys WHERE key = ?"
    assert _count(db, stored, headers["Idempotency-Key"]) == 1

    # A business refusal is an answer too: stored, replayed, and nothing written.
    declined = {
        "order_id": "O-declined",
        "amount": "10.00",
        "currency": "EUR",
        "method": "card",
        "reference": "tok_declined",
    }
    headers = {"Idempotency-Key": "O-declined:capture_payment"}
    first = await api.post("/api/payments", json=declined, headers=headers)
    again = await api.post("/api/payments", json=declined, headers=headers)
    assert _error(first)[:2] == (422, "PaymentDeclined")
    assert again.status_code == 422 and again.content == first.content
    assert again.headers["idempotent-replayed"] == "true"
    assert _count(db, "SELECT COUNT(*) FROM payments") == 0


async def test_a_write_without_a_key_or_with_a_reused_key_is_refused(
    api: httpx.AsyncClient, erp_service: ServiceHandle
) -> None:
    body = {"order_id": "O-conflict", "lines": [{"sku": "SKU-003", "quantity": 1}]}
    status, code, message = _error(await api.post("/api/reservations", json=body))
    assert (status, code) == (400, "ValidationError") and "Idempotency-Key" in message
    assert (await _product(api, "SKU-003"))["reserved"] == 0

    headers = {"Idempotency-Key": "O-conflict:reserve_stock"}
    assert (await api.post("/api/reservations", json=body, headers=headers)).status_code == 201

    other_body = {"order_id": "O-conflict", "lines": [{"sku": "SKU-003", "quantity": 2}]}
    conflict = await api.post("/api/reservations", json=other_body, headers=headers)
    status, code, message = _error(conflict)
    assert (status, code) == (409, "IdempotencyConflict") and "O-conflict:reserve_stock" in message
    other_path = await api.post("/api/payments/PAY-000001/refund", headers=headers)
    assert _error(other_path)[:2] == (409, "IdempotencyConflict")

    assert (await _product(api, "SKU-003"))["reserved"] == 1
    assert _count(erp_service.db_path, "SELECT COUNT(*) FROM reservations") == 1


async def test_concurrent_requests_with_one_key_execute_once(
    api: httpx.AsyncClient, erp_service: ServiceHandle
) -> None:
    body = {
        "order_id": "O-race",
        "amount": "99.80",
        "currency": "EUR",
        "method": "card",
        "reference": "tok_visa",
    }
    headers = {"Idempotency-Key": "O-race:capture_payment"}
    answers = await asyncio.gather(
        *(api.post("/api/payments", json=body, headers=headers) for _ in range(20))
    )
    assert {a.status_code for a in answers} == {201}
    assert len({a.content for a in answers}) == 1
    assert sum("idempotent-replayed" not in a.headers for a in answers) == 1
    assert _count(erp_service.db_path, "SELECT COUNT(*) FROM payments") == 1


# --- validation and business rules ------------------------------------------------------------


async def test_malformed_requests_are_400_naming_the_field(api: httpx.AsyncClient) -> None:
    headers = {"Idempotency-Key": _key()}
    bad_line = {"order_id": "O-bad", "lines": [{"sku": "SKU-001", "quantity": 0}]}
    status, code, message = _error(
        await api.post("/api/reservations", json=bad_line, headers=headers)
    )
    assert (status, code) == (400, "ValidationError") and "lines.0.quantity" in message

    broken = await api.post(
        "/api/reservations",
        content=b'{"order_id": ',
        headers={**headers, "Content-Type": "application/json"},
    )
    assert _error(broken)[:2] == (400, "ValidationError")

    no_reference = {"order_id": "O-bad", "amount": "5", "currency": "EUR", "method": "card"}
    status, code, message = _error(
        await api.post("/api/payments", json=no_reference, headers=headers)
    )
    assert (status, code) == (400, "ValidationError") and "reference" in message

    too_big = await api.get("/api/changes/orders", params={"limit": 1001})
    assert _error(too_big)[:2] == (400, "ValidationError") and "limit" in _error(too_big)[2]
    bad_cursor = await api.get("/api/changes/orders", params={"cursor": "not-a-cursor"})
    assert _error(bad_cursor)[:2] == (400, "ValidationError") and "cursor" in _error(bad_cursor)[2]


async def test_a_reservation_is_all_or_nothing(
    api: httpx.AsyncClient, erp_service: ServiceHandle
) -> None:
    lines = [{"sku": "SKU-004", "quantity": 5}, {"sku": "SKU-011", "quantity": 1}]
    response = await api.post(
        "/api/reservations",
        json={"order_id": "O-short", "lines": lines},
        headers={"Idempotency-Key": _key()},
    )
    status, code, message = _error(response)
    assert (status, code) == (422, "InsufficientStock")
    assert "SKU-011" in message and "SKU-004" not in message
    assert (await _product(api, "SKU-004"))["reserved"] == 0

    unknown = await api.post(
        "/api/reservations",
        json={"order_id": "O-short", "lines": [{"sku": "SKU-404", "quantity": 1}]},
        headers={"Idempotency-Key": _key()},
    )
    assert _error(unknown)[:2] == (404, "NotFound") and "SKU-404" in _error(unknown)[2]
    assert _count(erp_service.db_path, "SELECT COUNT(*) FROM reservations") == 0
    levels = (await api.get("/api/stock", params={"sku": ["SKU-004", "SKU-011"]})).json()
    assert [(x["sku"], x["available"]) for x in levels["items"]] == [
        ("SKU-004", 10_000),
        ("SKU-011", 0),
    ]


async def test_sales_order_rules_and_credit_exposure(api: httpx.AsyncClient) -> None:
    unknown = await api.post(
        "/api/sales-orders",
        json=order(customer_id="C-999").model_dump(mode="json"),
        headers={"Idempotency-Key": _key()},
    )
    assert _error(unknown)[:2] == (404, "NotFound") and "C-999" in _error(unknown)[2]
    blocked = await api.post(
        "/api/sales-orders",
        json=order(customer_id="C-103").model_dump(mode="json"),
        headers={"Idempotency-Key": _key()},
    )
    assert _error(blocked)[:2] == (422, "CustomerBlocked")

    first = await _sales_order(api, order_id="O-credit", customer_id="C-102")
    assert (first["status"], first["total"]) == ("open", "99.80")
    duplicate = await api.post(
        "/api/sales-orders",
        json=order(order_id="O-credit", customer_id="C-102").model_dump(mode="json"),
        headers={"Idempotency-Key": _key()},
    )
    assert _error(duplicate)[:2] == (409, "SalesOrderExists")

    async def exposure() -> str:
        credit = (await api.get("/api/customers/C-102/credit")).json()
        assert credit["credit_limit"] == "500.00"
        return str(credit["exposure"])

    assert await exposure() == "99.80"
    payment = await _post(
        api,
        "/api/payments",
        {"order_id": "O-credit", "amount": "99.80", "currency": "EUR", "method": "invoice"},
    )
    assert await exposure() == "0.00"
    await _post(api, f"/api/payments/{payment['payment_id']}/refund")
    assert await exposure() == "99.80"


async def test_state_machines_and_idempotent_compensations(api: httpx.AsyncClient) -> None:
    so = await _sales_order(api, order_id="O-life")
    so_id = so["sales_order_id"]
    lines = [{"sku": "SKU-001", "quantity": 2}]
    address = order().shipping_address.model_dump(mode="json")
    ship = {"order_id": "O-life", "sales_order_id": so_id, "address": address, "lines": lines}
    shipment = await _post(api, "/api/shipments", ship)
    assert shipment["status"] == "created" and shipment["tracking_number"]
    delivered = await _post(
        api,
        f"/api/shipments/{shipment['shipment_id']}/deliver",
        {"delivered_at": "2025-03-01T10:00:00+01:00"},
    )
    assert (delivered["status"], delivered["delivered_at"]) == (
        "delivered",
        "2025-03-01T09:00:00Z",
    )
    invoice = await _post(api, "/api/invoices", {"order_id": "O-life", "sales_order_id": so_id})
    assert (invoice["status"], invoice["amount"]) == ("posted", "99.80")

    refused = await api.post(
        f"/api/sales-orders/{so_id}/cancel", headers={"Idempotency-Key": _key()}
    )
    status, code, message = _error(refused)
    assert (status, code) == (422, "InvalidState") and so_id in message and "invoiced" in message
    twice = await api.post(
        "/api/invoices",
        json={"order_id": "O-life", "sales_order_id": so_id},
        headers={"Idempotency-Key": _key()},
    )
    assert _error(twice)[:2] == (422, "InvalidState")

    # Compensations, in saga order; each one a second time (new key) is a no-op.
    for _ in range(2):
        credited = await _post(api, f"/api/invoices/{invoice['invoice_id']}/credit")
        assert credited["status"] == "credited"
    orders = (await api.get("/api/sales-orders", params={"order_id": "O-life"})).json()["items"]
    assert [o["status"] for o in orders] == ["open"]
    for _ in range(2):
        returned = await _post(api, f"/api/shipments/{shipment['shipment_id']}/cancel")
        assert returned["status"] == "return_requested"
    late = await api.post(
        f"/api/shipments/{shipment['shipment_id']}/deliver",
        json={"delivered_at": "2025-03-02T10:00:00Z"},
        headers={"Idempotency-Key": _key()},
    )
    status, code, message = _error(late)
    assert (status, code) == (422, "InvalidState") and "return_requested" in message
    for _ in range(2):
        assert (await _post(api, f"/api/sales-orders/{so_id}/cancel"))["status"] == "cancelled"
    not_shippable = await api.post("/api/shipments", json=ship, headers={"Idempotency-Key": _key()})
    assert _error(not_shippable)[:2] == (422, "InvalidState")
    missing = await api.post("/api/invoices/INV-999999/credit", headers={"Idempotency-Key": _key()})
    assert _error(missing)[:2] == (404, "NotFound")


async def test_stock_follows_reservations_and_shipments(api: httpx.AsyncClient) -> None:
    so = await _sales_order(api, order_id="O-stock", sku="SKU-005", quantity=4)
    reservation = await _post(
        api,
        "/api/reservations",
        {"order_id": "O-stock", "lines": [{"sku": "SKU-005", "quantity": 4}]},
    )

    async def levels() -> tuple[int, int]:
        product = await _product(api, "SKU-005")
        return product["on_hand"], product["reserved"]

    assert await levels() == (10_000, 4)
    ship = {
        "order_id": "O-stock",
        "sales_order_id": so["sales_order_id"],
        "address": order().shipping_address.model_dump(mode="json"),
        "lines": [{"sku": "SKU-005", "quantity": 4}],
    }
    shipment = await _post(api, "/api/shipments", ship)
    assert await levels() == (9_996, 0)
    await _post(api, f"/api/shipments/{shipment['shipment_id']}/cancel")
    assert await levels() == (10_000, 4)
    for _ in range(2):
        released = await _post(api, f"/api/reservations/{reservation['reservation_id']}/release")
        assert released["status"] == "released"
    assert await levels() == (10_000, 0)


# --- change feeds, restart, bulk data ---------------------------------------------------------


async def _pages(api: httpx.AsyncClient, path: str, **params: Any) -> AsyncIterator[Json]:
    cursor: str | None = None
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        page: Json = (await api.get(path, params=query)).json()
        yield page
        cursor = page["next_cursor"]
        if cursor is None:
            return


async def test_the_order_feed_pages_through_every_order_once_even_while_orders_change(
    api: httpx.AsyncClient,
) -> None:
    created = [await _sales_order(api, order_id=f"O-feed-{i:02d}") for i in range(25)]
    seen: list[Json] = []
    pages = 0
    async for page in _pages(api, "/api/changes/orders", limit=4):
        assert len(page["items"]) <= 4
        seen += page["items"]
        pages += 1
        if pages == 2:
            # One order already read and one not yet read change while the reader pages.
            for so in (created[1], created[20]):
                await _post(api, f"/api/sales-orders/{so['sales_order_id']}/cancel")
    ids = Counter(item["order_id"] for item in seen)
    assert set(ids) == {so["order_id"] for so in created}
    assert ids["O-feed-01"] == 2  # seen open, then again cancelled
    assert all(n == 1 for oid, n in ids.items() if oid != "O-feed-01")
    statuses = {item["order_id"]: item["status"] for item in seen}  # last state wins
    assert statuses["O-feed-01"] == statuses["O-feed-20"] == "cancelled"
    stamps = [(item["updated_at"]) for item in seen]
    assert stamps == sorted(stamps)
    assert seen[0]["customer_name"] == "Ada Lovelace" and seen[0]["total"] == "99.80"

    since = seen[10]["updated_at"]
    tail = (await api.get("/api/changes/orders", params={"updated_since": since})).json()
    assert [i["order_id"] for i in tail["items"]] == [i["order_id"] for i in seen[10:]]
    assert tail["next_cursor"] is None


async def test_the_customer_feed_and_bulk_generation(
    api: httpx.AsyncClient, erp_service: ServiceHandle
) -> None:
    admin = {"Authorization": f"Bearer {erp_service.admin_token}"}
    body = {"customers": 1_000, "orders": 100_000, "seed": 7}
    generated = await api.post("/admin/generate", json=body, headers=admin, timeout=60)
    assert generated.status_code == 200, generated.text
    assert generated.json()["orders"] == 100_000

    db = erp_service.db_path
    assert _count(db, "SELECT COUNT(*) FROM customers") == 6 + 1_000
    assert _count(db, "SELECT COUNT(*) FROM sales_orders") == 100_000
    assert _count(db, "SELECT COUNT(DISTINCT updated_at) FROM sales_orders") == 100_000

    customers: list[str] = []
    async for page in _pages(api, "/api/changes/customers", limit=97):
        customers += [c["customer_id"] for c in page["items"]]
    assert len(customers) == len(set(customers)) == 1_006
    assert customers[:6] == ["C-100", "C-101", "C-102", "C-103", "C-104", "C-105"]
    first = (await api.get("/api/changes/orders", params={"limit": 1000})).json()
    assert len(first["items"]) == 1000 and first["next_cursor"]


async def test_a_restart_keeps_data_and_stored_answers(
    erp_factory: ServiceFactory,
) -> None:
    first = erp_factory()
    body = {"order_id": "O-restart", "lines": [{"sku": "SKU-006", "quantity": 7}]}
    headers = {"Idempotency-Key": "O-restart:reserve_stock"}
    async with _client(first) as api:
        before = await api.post("/api/reservations", json=body, headers=headers)
        assert before.status_code == 201
    first.process.stop()

    second = erp_factory(db=first.db_path)  # seed=demo again: must not add a second set
    async with _client(second) as api:
        after = await api.post("/api/reservations", json=body, headers=headers)
        assert after.content == before.content and after.headers["idempotent-replayed"] == "true"
        assert (await _product(api, "SKU-006"))["reserved"] == 7
        feed = (await api.get("/api/changes/customers")).json()
        assert len(feed["items"]) == 6
        newer = await _post(api, "/api/reservations", {**body, "order_id": "O-restart-2"})
        assert newer["reservation_id"] != before.json()["reservation_id"]
        assert newer["created_at"] > before.json()["created_at"]


async def test_stored_answers_older_than_the_retention_are_forgotten_at_start(
    erp_factory: ServiceFactory,
) -> None:
    """Issue 13 (9): the idempotency table stays bounded; a fresh answer is still replayed."""
    first = erp_factory()
    old = {"order_id": "O-old", "lines": [{"sku": "SKU-001", "quantity": 1}]}
    fresh = {"order_id": "O-fresh", "lines": [{"sku": "SKU-001", "quantity": 1}]}
    async with _client(first) as api:
        for body in (old, fresh):
            headers = {"Idempotency-Key": f"{body['order_id']}:reserve_stock"}
            assert (await api.post("/api/reservations", json=body, headers=headers)).is_success
    first.process.stop()
    # The first answer was stored 31 days ago, as far as the table knows.
    with sqlite3.connect(first.db_path) as db:
        db.execute(
            "UPDATE idempotency_keys SET created_at = ? WHERE key = 'O-old:reserve_stock'",
            (format_ts(datetime.now(UTC) - RETENTION - timedelta(days=1)),),
        )

    second = erp_factory(db=first.db_path)
    stored = "SELECT COUNT(*) FROM idempotency_keys WHERE key = ?"
    deadline = time.monotonic() + 10
    while _count(second.db_path, stored, "O-old:reserve_stock"):
        assert time.monotonic() < deadline, "the old answer was not forgotten at start"
        await asyncio.sleep(0.1)
    assert _count(second.db_path, stored, "O-fresh:reserve_stock") == 1
    async with _client(second) as api:
        headers = {"Idempotency-Key": "O-fresh:reserve_stock"}
        again = await api.post("/api/reservations", json=fresh, headers=headers)
        assert again.headers["idempotent-replayed"] == "true"
