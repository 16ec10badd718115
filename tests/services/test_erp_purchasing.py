"""The reference ERP's purchasing over HTTP, as a real process shared by the module (each test
buys under its own requisition ids)."""

from __future__ import annotations

import sqlite3
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import BaseModel

from domain.purchasing.models import DocumentKind, ReceiptKind
from services.erp.seed import generate, seed_demo
from services.erp.store import Database
from tests.conftest import ServiceHandle
from tests.services.purchasing_samples import due, invoice, receipt, requisition

Json = dict[str, Any]


@pytest.fixture(scope="module")
async def api(module_erp: ServiceHandle) -> AsyncIterator[httpx.AsyncClient]:
    auth = {"Authorization": f"Bearer {module_erp.api_token}"}
    async with httpx.AsyncClient(base_url=module_erp.url, headers=auth, timeout=10) as client:
        yield client


def _key() -> str:
    return f"test:{uuid.uuid4().hex}"


def _body(model: BaseModel, **extra: str) -> Json:
    return {**model.model_dump(mode="json"), **extra}


async def _send(api: httpx.AsyncClient, path: str, body: Json | None = None) -> httpx.Response:
    return await api.post(path, json=body, headers={"Idempotency-Key": _key()})


async def _post(api: httpx.AsyncClient, path: str, body: Json | None = None) -> Json:
    """A write that must succeed; returns its body."""
    response = await _send(api, path, body)
    assert response.status_code in (200, 201), response.text
    result: Json = response.json()
    return result


def _error(response: httpx.Response) -> tuple[int, str, str]:
    error = response.json()["error"]
    return response.status_code, error["code"], error["message"]


def _count(db: Path, sql: str, *params: object) -> int:
    with sqlite3.connect(db) as conn:
        value: int = conn.execute(sql, params).fetchone()[0]
    return value


async def _ordered(api: httpx.AsyncClient, supplier_id: str = "SUP-100") -> tuple[str, str]:
    """A new requisition's purchase order: (requisition id, purchase order id)."""
    req = requisition(supplier_id=supplier_id)
    order = await _post(api, "/api/purchase-orders", _body(req))
    return req.requisition_id, order["purchase_order_id"]


async def _documents(api: httpx.AsyncClient, rid: str) -> Json:
    result: Json = (await api.get(f"/api/requisitions/{rid}/documents")).json()
    return result


# --- suppliers --------------------------------------------------------------------------------


async def test_the_purchasing_routes_are_documented_and_need_the_token(
    module_erp: ServiceHandle,
) -> None:
    async with httpx.AsyncClient(base_url=module_erp.url) as anonymous:
        paths = (await anonymous.get("/openapi.json")).json()["paths"]
        for path in (
            "/api/suppliers/{supplier_id}",
            "/api/purchase-orders",
            "/api/purchase-orders/{purchase_order_id}/remind",
            "/api/goods-receipts/{erp_receipt_id}/return",
            "/api/supplier-invoices/{erp_invoice_id}/cancel",
            "/api/supplier-payments",
            "/api/requisitions/{requisition_id}/documents",
            "/api/changes/purchases",
        ):
            assert path in paths, path
        assert (await anonymous.get("/api/suppliers/SUP-100")).status_code == 401
        write = await anonymous.post("/api/purchase-orders", headers={"Idempotency-Key": "k"})
        assert write.status_code == 401
    async with httpx.AsyncClient(base_url=module_erp.url) as client:
        auth = {"Authorization": f"Bearer {module_erp.api_token}"}
        keyless = await client.post("/api/purchase-orders/PO-1/remind", headers=auth)
        status, code, message = _error(keyless)
        assert (status, code) == (400, "ValidationError") and "Idempotency-Key" in message


async def test_suppliers_are_seeded_active_blocked_and_new(api: httpx.AsyncClient) -> None:
    listed = (await api.get("/api/suppliers")).json()
    assert listed["count"] == 5
    seen = {s["supplier_id"]: (s["status"], s["new"], s["currency"]) for s in listed["items"]}
    assert seen == {
        "SUP-100": ("active", False, "EUR"),
        "SUP-101": ("active", False, "EUR"),
        "SUP-102": ("active", False, "EUR"),
        "SUP-103": ("blocked", False, "EUR"),
        "SUP-104": ("active", True, "EUR"),
    }
    blocked = (await api.get("/api/suppliers/SUP-103")).json()
    assert (blocked["name"], blocked["status"]) == ("Blocked Imports Ltd", "blocked")
    missing = await api.get("/api/suppliers/SUP-404")
    assert _error(missing)[:2] == (404, "NotFound") and "SUP-404" in _error(missing)[2]


def test_an_older_erp_file_gets_the_demo_suppliers_and_generate_adds_them(
    tmp_path: Path,
) -> None:
    db = Database(tmp_path / "erp.db")
    try:
        with db.transaction() as tx:
            assert seed_demo(tx)
            tx.run("DELETE FROM suppliers")  # as a file from before purchasing
        with db.transaction() as tx:
            assert seed_demo(tx)  # customers are there: only the suppliers come
            assert not seed_demo(tx)
        with db.transaction() as tx:
            assert generate(tx, 0, 0, 1, suppliers=3).suppliers == 3
        with db.reading() as tx:
            ids = [row[0] for row in tx.all("SELECT supplier_id FROM suppliers ORDER BY id")]
    finally:
        db.close()
    assert ids[:5] == ["SUP-100", "SUP-101", "SUP-102", "SUP-103", "SUP-104"]
    assert ids[5:] == ["GS-0000006", "GS-0000007", "GS-0000008"]

    bare = Database(tmp_path / "bare.db")
    try:
        with bare.transaction() as tx:
            generate(tx, 2, 0, 1)
        with bare.reading() as tx:
            assert len(tx.all("SELECT supplier_id FROM suppliers")) == 5
    finally:
        bare.close()


# --- one purchase, end to end -----------------------------------------------------------------


async def test_a_purchase_from_order_to_payment_leaves_exactly_one_of_each_document(
    api: httpx.AsyncClient, module_erp: ServiceHandle
) -> None:
    req = requisition()
    rid = req.requisition_id
    order = await _post(api, "/api/purchase-orders", _body(req))
    po = order["purchase_order_id"]
    assert (order["status"], order["total"], order["currency"]) == ("sent", "285.00", "EUR")
    assert (order["supplier_id"], order["reminders"], order["supplier_reference"]) == (
        "SUP-100",
        0,
        None,
    )
    assert [line["line_no"] for line in order["lines"]] == [1, 2]

    # Two reminders, the first one retried: counted once per key.
    headers = {"Idempotency-Key": f"{rid}:remind:1"}
    first = await api.post(f"/api/purchase-orders/{po}/remind", headers=headers)
    retried = await api.post(f"/api/purchase-orders/{po}/remind", headers=headers)
    assert retried.content == first.content and retried.headers["idempotent-replayed"] == "true"
    assert (await _post(api, f"/api/purchase-orders/{po}/remind"))["reminders"] == 2

    confirmed = await _post(
        api, f"/api/purchase-orders/{po}/confirm", {"supplier_reference": "AB-4711"}
    )
    assert (confirmed["status"], confirmed["supplier_reference"]) == ("confirmed", "AB-4711")
    # A confirmation arriving again is no change; a reminder after it sends nothing.
    again = await _post(api, f"/api/purchase-orders/{po}/confirm", {"supplier_reference": ""})
    assert again["supplier_reference"] == "AB-4711"
    assert (await _post(api, f"/api/purchase-orders/{po}/remind"))["reminders"] == 2

    received = await _post(api, "/api/goods-receipts", _body(receipt(rid), purchase_order_id=po))
    assert (received["status"], received["kind"], received["receipt_id"]) == (
        "recorded",
        "receipt",
        "WH-1",
    )
    posted = await _post(api, "/api/supplier-invoices", _body(invoice(rid), purchase_order_id=po))
    assert (posted["status"], posted["net"], posted["tax"], posted["kind"]) == (
        "posted",
        "285.00",
        "54.15",
        "invoice",
    )
    payment = await _post(
        api,
        "/api/supplier-payments",
        _body(due(f"INV-{rid}"), purchase_order_id=po, supplier_id="SUP-100"),
    )
    assert (payment["status"], payment["amount"], payment["lines"]) == ("paid", "339.15", [1, 2])
    assert payment["erp_invoice_id"] == posted["erp_invoice_id"]

    assert await _documents(api, rid) == {
        "requisition_id": rid,
        "purchase_orders": 1,
        "receipts": 1,
        "invoices": 1,
        "payments": 1,
        "reminders": 2,
    }
    for path in ("purchase-orders", "goods-receipts", "supplier-invoices", "supplier-payments"):
        listed = (await api.get(f"/api/{path}", params={"requisition_id": rid})).json()
        assert listed["count"] == len(listed["items"]) == 1, path
    now = (await api.get(f"/api/purchase-orders/{po}")).json()
    assert (now["received"], now["invoiced"], now["paid"]) == ("285.00", "285.00", "339.15")
    db = module_erp.db_path
    assert _count(db, "SELECT COUNT(*) FROM supplier_payments WHERE requisition_id = ?", rid) == 1


# --- idempotency ------------------------------------------------------------------------------


async def test_every_purchasing_write_replays_its_answer_and_refuses_a_reused_key(
    api: httpx.AsyncClient,
) -> None:
    req = requisition()
    rid = req.requisition_id

    async def twice(path: str, body: Json | None, other: Json | None) -> Json:
        """The write, the same write again (replayed), and its key with another body (409)."""
        key = {"Idempotency-Key": f"{rid}:{path}"}
        first = await api.post(path, json=body, headers=key)
        assert first.status_code in (200, 201), first.text
        again = await api.post(path, json=body, headers=key)
        assert (again.status_code, again.content) == (first.status_code, first.content)
        assert again.headers["idempotent-replayed"] == "true"
        if other is not None:
            conflict = await api.post(path, json=other, headers=key)
            status, code, message = _error(conflict)
            assert (status, code) == (409, "IdempotencyConflict") and key["Idempotency-Key"] in (
                message
            )
        result: Json = first.json()
        return result

    other_req = requisition()
    po = (await twice("/api/purchase-orders", _body(req), _body(other_req)))["purchase_order_id"]
    await twice(f"/api/purchase-orders/{po}/remind", None, None)
    await twice(
        f"/api/purchase-orders/{po}/confirm",
        {"supplier_reference": "SR-1"},
        {"supplier_reference": "SR-2"},
    )
    gr = await twice(
        "/api/goods-receipts",
        _body(receipt(rid), purchase_order_id=po),
        _body(receipt(rid, "WH-2"), purchase_order_id=po),
    )
    inv = await twice(
        "/api/supplier-invoices",
        _body(invoice(rid), purchase_order_id=po),
        _body(invoice(rid, "INV-2"), purchase_order_id=po),
    )
    await twice(
        "/api/supplier-payments",
        _body(due(f"INV-{rid}", [1], "100.00"), purchase_order_id=po, supplier_id="SUP-100"),
        _body(due(f"INV-{rid}", [2], "100.00"), purchase_order_id=po, supplier_id="SUP-100"),
    )
    assert await _documents(api, rid) == {
        "requisition_id": rid,
        "purchase_orders": 1,
        "receipts": 1,
        "invoices": 1,
        "payments": 1,
        "reminders": 1,
    }
    # Undos replay too. A paid invoice cannot be undone; a cancelled order cancels as a no-op.
    await twice(f"/api/goods-receipts/{gr['erp_receipt_id']}/return", None, None)
    paid = await _send(api, f"/api/supplier-invoices/{inv['erp_invoice_id']}/cancel")
    assert _error(paid)[:2] == (422, "InvalidState")
    assert _error(paid)[2].endswith("the supplier must refund first")
    _, unused = await _ordered(api)
    await _post(api, f"/api/purchase-orders/{unused}/cancel")
    cancelled = await twice(f"/api/purchase-orders/{unused}/cancel", None, None)
    assert cancelled["status"] == "cancelled"


# --- business rules ---------------------------------------------------------------------------


async def test_purchase_order_rules(api: httpx.AsyncClient, module_erp: ServiceHandle) -> None:
    blocked = await _send(api, "/api/purchase-orders", _body(requisition(supplier_id="SUP-103")))
    assert _error(blocked)[:2] == (422, "SupplierBlocked") and "SUP-103" in _error(blocked)[2]
    unknown = await _send(api, "/api/purchase-orders", _body(requisition(supplier_id="SUP-999")))
    assert _error(unknown)[:2] == (404, "NotFound")
    newcomer = await _post(api, "/api/purchase-orders", _body(requisition(supplier_id="SUP-104")))
    assert newcomer["status"] == "sent"

    bad = requisition().model_dump(mode="json")
    bad["currency"] = "eur"
    bad["lines"][1]["quantity"] = "0"
    bad["lines"][1]["line_no"] = 1
    status, code, message = _error(await _send(api, "/api/purchase-orders", bad))
    assert (status, code) == (400, "ValidationError")
    assert "currency" in message and "lines.1.quantity" in message
    assert "lines.1.line_no: 1 appears twice" in message
    missing_field = requisition().model_dump(mode="json")
    del missing_field["supplier_id"]
    status, code, message = _error(await _send(api, "/api/purchase-orders", missing_field))
    assert (status, code) == (400, "ValidationError") and "supplier_id" in message

    rid, po = await _ordered(api)
    second = await _send(api, "/api/purchase-orders", _body(requisition(rid)))
    status, code, message = _error(second)
    assert (status, code) == (409, "PurchaseOrderExists") and po in message
    await _post(api, f"/api/purchase-orders/{po}/confirm", {"supplier_reference": "SR-1"})
    other_reference = await _send(
        api, f"/api/purchase-orders/{po}/confirm", {"supplier_reference": "SR-2"}
    )
    status, code, message = _error(other_reference)
    assert (status, code) == (422, "InvalidState") and "SR-1" in message and "SR-2" in message

    # Cancelling needs the goods back and the invoices cancelled first (the saga's order).
    gr = await _post(api, "/api/goods-receipts", _body(receipt(rid), purchase_order_id=po))
    inv = await _post(api, "/api/supplier-invoices", _body(invoice(rid), purchase_order_id=po))
    refused = await _send(api, f"/api/purchase-orders/{po}/cancel")
    status, code, message = _error(refused)
    assert (status, code) == (422, "InvalidState") and gr["erp_receipt_id"] in message
    await _post(api, f"/api/goods-receipts/{gr['erp_receipt_id']}/return")
    refused = await _send(api, f"/api/purchase-orders/{po}/cancel")
    assert inv["erp_invoice_id"] in _error(refused)[2]
    for _ in range(2):
        cancelled = await _post(api, f"/api/supplier-invoices/{inv['erp_invoice_id']}/cancel")
        assert cancelled["status"] == "cancelled"
    for _ in range(2):
        assert (await _post(api, f"/api/purchase-orders/{po}/cancel"))["status"] == "cancelled"
    assert (await _post(api, f"/api/purchase-orders/{po}/remind"))["reminders"] == 0
    late = await _send(
        api, "/api/goods-receipts", _body(receipt(rid, "WH-9"), purchase_order_id=po)
    )
    assert _error(late)[:2] == (422, "InvalidState") and "cancelled" in _error(late)[2]
    confirm = await _send(api, f"/api/purchase-orders/{po}/confirm", {"supplier_reference": "X"})
    assert _error(confirm)[:2] == (422, "InvalidState")
    orders = "SELECT COUNT(*) FROM purchase_orders WHERE requisition_id = ?"
    assert _count(module_erp.db_path, orders, rid) == 1


async def test_returns_undo_receipts_and_received_never_goes_below_zero(
    api: httpx.AsyncClient,
) -> None:
    rid, po = await _ordered(api)

    async def received() -> str:
        value: str = (await api.get(f"/api/purchase-orders/{po}")).json()["received"]
        return value

    # Two boxes of 5 kg: line 1 in full, valued at the order's price.
    boxes = await _post(
        api,
        "/api/goods-receipts",
        _body(receipt(rid, "WH-1", {1: "2"}, unit="box"), purchase_order_id=po),
    )
    assert await received() == "125.00"
    back = await _post(
        api,
        "/api/goods-receipts",
        _body(receipt(rid, "RT-1", {1: "4"}, kind=ReceiptKind.RETURN), purchase_order_id=po),
    )
    assert (back["kind"], await received()) == ("return", "75.00")

    too_much = await _send(
        api,
        "/api/goods-receipts",
        _body(receipt(rid, "RT-2", {1: "7"}, kind=ReceiptKind.RETURN), purchase_order_id=po),
    )
    status, code, message = _error(too_much)
    assert (status, code) == (422, "ReturnExceedsReceipts") and "line 1" in message
    # The receipt cannot be undone while the return of part of it stands ...
    undo_first = await _send(api, f"/api/goods-receipts/{boxes['erp_receipt_id']}/return")
    assert _error(undo_first)[:2] == (422, "ReturnExceedsReceipts")
    # ... in the saga's (reverse) order it can.
    for record in (back, boxes):
        for _ in range(2):
            undone = await _post(api, f"/api/goods-receipts/{record['erp_receipt_id']}/return")
            assert undone["status"] == "returned"
    assert await received() == "0.00"

    same_number = await _send(
        api, "/api/goods-receipts", _body(receipt(rid, "WH-1"), purchase_order_id=po)
    )
    status, code, message = _error(same_number)
    assert (status, code) == (409, "ReceiptExists") and boxes["erp_receipt_id"] in message
    # A unit the order cannot convert is recorded as it came (the match flags it), valued at 0.
    pallets = await _post(
        api,
        "/api/goods-receipts",
        _body(receipt(rid, "WH-3", {1: "1"}, unit="pallet"), purchase_order_id=po),
    )
    assert pallets["lines"] == [{"line_no": 1, "quantity": "1", "unit": "pallet"}]
    assert await received() == "0.00"
    listed = (await api.get("/api/goods-receipts", params={"requisition_id": rid})).json()
    assert [r["status"] for r in listed["items"]] == ["returned", "returned", "recorded"]


async def test_documents_that_do_not_fit_their_order_are_400_naming_the_field(
    api: httpx.AsyncClient, module_erp: ServiceHandle
) -> None:
    rid, po = await _ordered(api)
    other_rid, _ = await _ordered(api)

    async def problems(path: str, body: Json) -> str:
        status, code, message = _error(await _send(api, path, body))
        assert (status, code) == (400, "ValidationError"), message
        return message

    wrong = _body(receipt(other_rid), purchase_order_id=po)
    assert "requisition_id" in await problems("/api/goods-receipts", wrong)
    bad_receipt = _body(receipt(rid, lines={3: "1", 1: "0"}), purchase_order_id=po)
    message = await problems("/api/goods-receipts", bad_receipt)
    assert "lines.0.line_no" in message and "no line 3" in message and "lines.1.quantity" in message

    bad = _body(invoice(rid, supplier_id="SUP-101"), purchase_order_id=po)
    bad["due_on"] = "2025-02-01"
    bad["lines"][1]["line_no"] = 7
    bad["lines"][0]["unit_price"] = "-1"
    message = await problems("/api/supplier-invoices", bad)
    for part in ("supplier_id", "SUP-100", "due_on", "lines.1.line_no", "lines.0.unit_price"):
        assert part in message
    credit = _body(invoice(rid, "CN-1", kind=DocumentKind.CREDIT_NOTE), purchase_order_id=po)
    assert "credits_reference" in await problems("/api/supplier-invoices", credit)
    blank = _body(invoice(rid, " - "), purchase_order_id=po)
    assert "reference" in await problems("/api/supplier-invoices", blank)

    unknown_po = _body(invoice(rid), purchase_order_id="PO-999999")
    assert _error(await _send(api, "/api/supplier-invoices", unknown_po))[:2] == (404, "NotFound")
    db = module_erp.db_path
    assert _count(db, "SELECT COUNT(*) FROM goods_receipts WHERE requisition_id = ?", rid) == 0
    assert _count(db, "SELECT COUNT(*) FROM supplier_invoices WHERE requisition_id = ?", rid) == 0


async def test_a_duplicate_invoice_is_refused_under_any_key_naming_the_first(
    api: httpx.AsyncClient,
) -> None:
    rid, po = await _ordered(api)
    first = await _post(
        api, "/api/supplier-invoices", _body(invoice(rid, "INV-2025-001"), purchase_order_id=po)
    )
    # The same number written otherwise, another amount, another key: still the same number.
    again = invoice(rid, " inv 2025001 ").model_copy(update={"tax": Decimal("1.00")})
    duplicate = await _send(api, "/api/supplier-invoices", _body(again, purchase_order_id=po))
    status, code, message = _error(duplicate)
    assert (status, code) == (409, "DuplicateInvoice")
    assert first["erp_invoice_id"] in message and "INV-2025-001" in message and po in message
    # Even on another order of the same supplier; another supplier may use the number.
    other_rid, other_po = await _ordered(api)
    elsewhere = await _send(
        api,
        "/api/supplier-invoices",
        _body(invoice(other_rid, "INV-2025-001"), purchase_order_id=other_po),
    )
    assert _error(elsewhere)[:2] == (409, "DuplicateInvoice")
    third_rid, third_po = await _ordered(api, "SUP-101")
    theirs = _body(invoice(third_rid, "INV-2025-001", "SUP-101"), purchase_order_id=third_po)
    assert (await _post(api, "/api/supplier-invoices", theirs))["status"] == "posted"

    # A credit note has its own number; one posted in error, cancelled, may come again.
    credit = invoice(rid, "CN-1", kind=DocumentKind.CREDIT_NOTE, credits_reference="INV-2025-001")
    note = await _post(api, "/api/supplier-invoices", _body(credit, purchase_order_id=po))
    assert (note["kind"], note["credits_reference"]) == ("credit_note", "INV-2025-001")
    assert (await api.get(f"/api/purchase-orders/{po}")).json()["invoiced"] == "0.00"
    await _post(api, f"/api/supplier-invoices/{note['erp_invoice_id']}/cancel")
    reposted = await _post(api, "/api/supplier-invoices", _body(credit, purchase_order_id=po))
    assert reposted["erp_invoice_id"] != note["erp_invoice_id"]
    listed = (await api.get("/api/supplier-invoices", params={"requisition_id": rid})).json()
    assert [(i["reference"], i["status"]) for i in listed["items"]] == [
        ("INV-2025-001", "posted"),
        ("CN-1", "cancelled"),
        ("CN-1", "posted"),
    ]


async def test_payments_never_exceed_the_gross_nor_pay_a_line_twice(
    api: httpx.AsyncClient, module_erp: ServiceHandle
) -> None:
    rid, po = await _ordered(api)
    await _post(api, "/api/supplier-invoices", _body(invoice(rid), purchase_order_id=po))

    def pay(lines: list[int], amount: str, **changes: str) -> Json:
        return {
            **_body(due(f"INV-{rid}", lines, amount), purchase_order_id=po, supplier_id="SUP-100"),
            **changes,
        }

    first = await _post(api, "/api/supplier-payments", pay([1], "148.75"))
    line_twice = await _send(api, "/api/supplier-payments", pay([1, 2], "100.00"))
    status, code, message = _error(line_twice)
    assert (status, code) == (409, "LineAlreadyPaid") and first["payment_id"] in message
    over = await _send(api, "/api/supplier-payments", pay([2], "190.41"))
    status, code, message = _error(over)
    assert (status, code) == (409, "Overpayment") and "339.16" in message and "339.15" in message

    assert _error(await _send(api, "/api/supplier-payments", pay([3], "1.00")))[:2] == (
        400,
        "ValidationError",
    )
    wrong_currency = await _send(api, "/api/supplier-payments", pay([2], "1.00", currency="USD"))
    assert "currency" in _error(wrong_currency)[2]
    other_supplier = await _send(
        api, "/api/supplier-payments", pay([2], "1.00", supplier_id="SUP-101")
    )
    assert "supplier_id" in _error(other_supplier)[2]
    unknown = await _send(
        api, "/api/supplier-payments", pay([2], "1.00", invoice_reference="INV-404")
    )
    assert _error(unknown)[:2] == (404, "NotFound")
    zero = await _send(api, "/api/supplier-payments", pay([2], "0"))
    assert _error(zero)[:2] == (400, "ValidationError") and "amount" in _error(zero)[2]

    # Found by its number written otherwise, as the duplicate check compares it.
    otherwise = f"INV-{rid}".lower().replace("-", " ")
    rest = await _post(
        api, "/api/supplier-payments", pay([2], "190.40", invoice_reference=otherwise)
    )
    assert (rest["invoice_reference"], rest["lines"]) == (f"INV-{rid}", [2])
    db = module_erp.db_path
    assert _count(db, "SELECT COUNT(*) FROM supplier_payments WHERE requisition_id = ?", rid) == 2
    assert (await api.get(f"/api/purchase-orders/{po}")).json()["paid"] == "339.15"


# --- change feed and faults -------------------------------------------------------------------


async def _pages(api: httpx.AsyncClient, **params: Any) -> AsyncIterator[Json]:
    cursor: str | None = None
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        page: Json = (await api.get("/api/changes/purchases", params=query)).json()
        yield page
        cursor = page["next_cursor"]
        if cursor is None:
            return


async def test_the_purchase_feed_pages_through_each_order_and_shows_it_again_when_it_changes(
    api: httpx.AsyncClient,
) -> None:
    since = datetime.now(UTC).isoformat()
    created = [await _ordered(api) for _ in range(5)]
    seen: list[Json] = []
    pages = 0
    async for page in _pages(api, updated_since=since, limit=2):
        assert len(page["items"]) <= 2
        seen += page["items"]
        pages += 1
        if pages == 1:
            # An order already read gets its goods while the reader pages.
            rid, po = created[0]
            await _post(api, "/api/goods-receipts", _body(receipt(rid), purchase_order_id=po))
    assert pages == 3
    ids = Counter(item["requisition_id"] for item in seen)
    assert set(ids) == {rid for rid, _ in created}
    assert ids[created[0][0]] == 2 and sum(ids.values()) == 6
    latest = {item["purchase_order_id"]: item for item in seen}
    assert latest[created[0][1]]["received"] == "285.00"
    assert (latest[created[1][1]]["status"], latest[created[1][1]]["total"]) == ("sent", "285.00")
    stamps = [item["updated_at"] for item in seen]
    assert stamps == sorted(stamps)
    bad_cursor = await api.get("/api/changes/purchases", params={"cursor": "nope"})
    assert _error(bad_cursor)[:2] == (400, "ValidationError")


async def test_faults_are_injected_into_purchasing_routes_and_write_nothing(
    api: httpx.AsyncClient, module_erp: ServiceHandle
) -> None:
    admin = {"Authorization": f"Bearer {module_erp.admin_token}"}
    req = requisition()
    faults = {"error_rate": 1.0, "error_statuses": [503], "retry_after_seconds": 2}
    assert (await api.put("/admin/faults", json=faults, headers=admin)).status_code == 200
    try:
        key = {"Idempotency-Key": f"{req.requisition_id}:po"}
        failed = await api.post("/api/purchase-orders", json=_body(req), headers=key)
        assert failed.status_code == 503 and failed.headers["retry-after"] == "2"
        assert "injected fault" in failed.json()["message"]
        assert (await api.get("/api/suppliers/SUP-100")).status_code == 503
    finally:
        assert (await api.put("/admin/faults", json={}, headers=admin)).status_code == 200
    assert (await _documents(api, req.requisition_id))["purchase_orders"] == 0
    created = await api.post("/api/purchase-orders", json=_body(req), headers=key)
    assert created.status_code == 201 and "idempotent-replayed" not in created.headers
