"""`PurchasingPort` on a real Tryton 8.2 (one server for the module).

Checked in Tryton itself, not only in the connector's answers: one purchase, one supplier
shipment, one supplier invoice and one payment per document, whatever is repeated; a supplier
reference Tryton holds is refused; Tryton's books end where a person would have left them
(invoice paid, purchase done; or everything cancelled and returned).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from connectors.tryton import TrytonErpClient
from domain.erp import ErpReceiptStatus, ErpSupplierInvoiceStatus, PurchasingPort
from domain.errors import BusinessRuleError, ConflictError, InvalidRequestError, NotFoundError
from domain.idempotency import step_key
from domain.purchasing.models import (
    DocumentKind,
    GoodsReceipt,
    InvoiceLine,
    PaymentDue,
    PurchaseOrderStatus,
    ReceiptKind,
    ReceiptLine,
    Requisition,
    RequisitionLine,
    SupplierInvoice,
    SupplierStatus,
)
from tests.connectors.tryton_fixtures import SKIP_REASON, TRYTON_MISSING, tryton_template
from tests.connectors.tryton_purchasing_fixtures import purchasing, tryton_module_server

__all__ = ["purchasing", "tryton_module_server", "tryton_template"]  # fixtures, for pytest

pytestmark = pytest.mark.skipif(TRYTON_MISSING, reason=SKIP_REASON)

TODAY = dt.date.today()


def requisition(rid: str, *lines: tuple[str, str, str], supplier: str = "SUP-100") -> Requisition:
    """Lines of (product, quantity, expected price), numbered from 1, taxed at 19 %."""
    return Requisition(
        requisition_id=rid,
        requested_by="alice",
        supplier_id=supplier,
        cost_centre="CC-7",
        currency="EUR",
        lines=[
            RequisitionLine(
                line_no=n,
                product=product,
                quantity=Decimal(quantity),
                expected_price=Decimal(price),
                tax_rate=Decimal("0.19"),
            )
            for n, (product, quantity, price) in enumerate(lines, start=1)
        ],
    )


def receipt(rid: str, number: str, *lines: tuple[int, str], back: bool = False) -> GoodsReceipt:
    return GoodsReceipt(
        requisition_id=rid,
        receipt_id=number,
        kind=ReceiptKind.RETURN if back else ReceiptKind.RECEIPT,
        lines=[ReceiptLine(line_no=n, quantity=Decimal(q)) for n, q in lines],
    )


def invoice(
    rid: str,
    reference: str,
    *lines: tuple[int, str, str],
    tax: str,
    credit: str | None = None,
    supplier: str = "SUP-100",
) -> SupplierInvoice:
    return SupplierInvoice(
        requisition_id=rid,
        supplier_id=supplier,
        reference=reference,
        kind=DocumentKind.CREDIT_NOTE if credit else DocumentKind.INVOICE,
        credits_reference=credit,
        currency="EUR",
        issued_on=TODAY,
        due_on=TODAY + dt.timedelta(days=30),
        lines=[
            InvoiceLine(line_no=n, quantity=Decimal(q), unit_price=Decimal(p)) for n, q, p in lines
        ],
        tax=Decimal(tax),
    )


async def records(
    client: TrytonErpClient, model: str, domain: list[Any], *fields: str
) -> list[dict[str, Any]]:
    """Read straight from Tryton."""
    return await client._search(model, domain, ["state", *fields], order=[("id", "ASC")])


async def tryton_purchases(client: TrytonErpClient, rid: str) -> list[dict[str, Any]]:
    return await records(
        client, "purchase.purchase", [("description", "=", f"Continuum requisition {rid}")]
    )


async def supplier_invoices(client: TrytonErpClient, purchase_id: str) -> list[dict[str, Any]]:
    return await records(
        client,
        "account.invoice",
        [("type", "=", "in"), ("purchases", "=", int(purchase_id))],
        "reference",
        "total_amount",
        "untaxed_amount",
        "tax_amount",
    )


def test_the_client_implements_the_purchasing_port() -> None:
    port: type[PurchasingPort] = TrytonErpClient  # mypy checks the signatures
    assert port is TrytonErpClient


async def test_suppliers_come_with_their_flags(purchasing: TrytonErpClient) -> None:
    ordinary = await purchasing.get_supplier("SUP-100")
    assert ordinary.name == "Bean Roasters GmbH" and ordinary.currency == "EUR"
    assert ordinary.status is SupplierStatus.ACTIVE and not ordinary.new
    assert ordinary.email == "orders@beanroasters.example"
    assert (await purchasing.get_supplier("SUP-103")).status is SupplierStatus.BLOCKED
    assert (await purchasing.get_supplier("SUP-104")).new
    with pytest.raises(NotFoundError, match="S-999"):
        await purchasing.get_supplier("S-999")


async def test_a_purchase_order_is_made_once_and_notes_the_supplier_s_answers_once(
    purchasing: TrytonErpClient,
) -> None:
    req = requisition("PR-1", ("SKU-001", "10", "20.00"), ("SKU-002", "5", "40.00"))
    key = step_key(req.requisition_id, "create_purchase_order")
    po = await purchasing.create_purchase_order(req, idempotency_key=key)
    assert await purchasing.create_purchase_order(req, idempotency_key=key) == po
    assert po.status is PurchaseOrderStatus.SENT and po.total == Decimal("400.00")
    (purchase,) = await tryton_purchases(purchasing, "PR-1")
    # Confirmed and processed by Tryton: the goods are expected (one waiting move per line).
    assert purchase["state"] == "processing"
    moves = await records(purchasing, "stock.move", [("purchase", "=", int(po.purchase_order_id))])
    assert [m["state"] for m in moves] == ["draft", "draft"]

    for attempt in (1, 1, 2):  # the first reminder twice, then a second one
        reminded = await purchasing.remind_supplier(
            po.purchase_order_id, idempotency_key=step_key("PR-1", f"remind_supplier:{attempt}")
        )
        assert reminded.status is PurchaseOrderStatus.SENT
    for _ in range(2):
        confirmed = await purchasing.confirm_purchase_order(
            po.purchase_order_id, "SUP-4711", idempotency_key=step_key("PR-1", "confirm")
        )
        assert confirmed.status is PurchaseOrderStatus.CONFIRMED
        assert confirmed.supplier_reference == "SUP-4711"
    with pytest.raises(ConflictError):
        await purchasing.confirm_purchase_order(
            po.purchase_order_id, "SUP-9999", idempotency_key=step_key("PR-1", "confirm-2")
        )
    (purchase,) = await records(
        purchasing, "purchase.purchase", [("id", "=", int(po.purchase_order_id))], "comment"
    )
    comment = purchase["comment"]
    assert comment.count("reminded the supplier") == 2 and comment.count("confirmed") == 1

    # The same requisition id with other lines is not the same request.
    other = requisition("PR-1", ("SKU-001", "11", "20.00"), ("SKU-002", "5", "40.00"))
    with pytest.raises(ConflictError, match="other lines"):
        await purchasing.create_purchase_order(other, idempotency_key=key)
    assert len(await tryton_purchases(purchasing, "PR-1")) == 1


async def test_a_refused_purchase_order_leaves_nothing_in_tryton(
    purchasing: TrytonErpClient,
) -> None:
    blocked = requisition("PR-2", ("SKU-001", "1", "1.00"), supplier="SUP-103")
    with pytest.raises(BusinessRuleError, match="blocked") as err:
        await purchasing.create_purchase_order(blocked, idempotency_key="PR-2:create")
    assert err.value.code == "SupplierBlocked"
    unknown = requisition("PR-3", ("SKU-999", "1", "1.00"))
    with pytest.raises(NotFoundError, match="SKU-999"):
        await purchasing.create_purchase_order(unknown, idempotency_key="PR-3:create")
    odd_tax = requisition("PR-4", ("SKU-001", "1", "1.00")).model_copy(
        update={
            "lines": [
                RequisitionLine(
                    line_no=1,
                    product="SKU-001",
                    quantity=Decimal(1),
                    expected_price=Decimal(1),
                    tax_rate=Decimal("0.12"),
                )
            ]
        }
    )
    with pytest.raises(InvalidRequestError, match="12%"):
        await purchasing.create_purchase_order(odd_tax, idempotency_key="PR-4:create")
    for rid in ("PR-2", "PR-3", "PR-4"):
        assert await tryton_purchases(purchasing, rid) == []


async def test_one_purchase_end_to_end_makes_one_of_each_record_however_often_repeated(
    purchasing: TrytonErpClient,
) -> None:
    rid = "PR-10"
    req = requisition(rid, ("SKU-003", "10", "20.00"), ("SKU-004", "5", "40.00"))
    goods = receipt(rid, "GR-10", (1, "10"), (2, "5"))
    bill = invoice(rid, "INV-10", (1, "10", "20.00"), (2, "5", "40.00"), tax="76.00")
    due = PaymentDue(
        invoice_reference="INV-10",
        lines=[1, 2],
        amount=Decimal("476.00"),
        tax=Decimal("76.00"),
        currency="EUR",
        due_on=bill.due_on,
    )

    async def run() -> tuple[str, str, str, str]:
        """Every forward write of procure-to-pay, in the workflow's order."""
        po = await purchasing.create_purchase_order(
            req, idempotency_key=step_key(rid, "create_purchase_order")
        )
        await purchasing.confirm_purchase_order(
            po.purchase_order_id, "SUP-10", idempotency_key=step_key(rid, "confirm")
        )
        got = await purchasing.record_goods_receipt(
            po.purchase_order_id, goods, idempotency_key=step_key(rid, "receipt:GR-10")
        )
        posted = await purchasing.post_supplier_invoice(
            po.purchase_order_id, bill, idempotency_key=step_key(rid, "invoice:INV-10")
        )
        paid = await purchasing.pay_supplier(
            po.purchase_order_id, "SUP-100", due, idempotency_key=step_key(rid, f"pay:{due.key}")
        )
        assert got.status is ErpReceiptStatus.RECORDED
        assert posted.status is ErpSupplierInvoiceStatus.POSTED
        assert (posted.net, posted.tax) == (Decimal("400.00"), Decimal("76.00"))
        assert posted.kind == "invoice"
        assert paid.status == "paid" and paid.amount == Decimal("476.00")
        return po.purchase_order_id, got.erp_receipt_id, posted.erp_invoice_id, paid.payment_id

    first = await run()
    assert await run() == first  # a full replay: every write again
    purchase_id = first[0]

    (purchase,) = await records(
        purchasing,
        "purchase.purchase",
        [("description", "=", f"Continuum requisition {rid}")],
        "shipments",
        "shipment_returns",
    )
    # Tryton's own verdict: everything received and the invoice paid, so the purchase is done.
    assert purchase["state"] == "done" and purchase["shipment_returns"] == []
    shipments = await records(
        purchasing, "stock.shipment.in", [("id", "in", purchase["shipments"])], "reference"
    )
    assert [(s["reference"], s["state"]) for s in shipments] == [("GR-10", "done")]
    invoices = await supplier_invoices(purchasing, purchase_id)
    assert [(i["reference"], i["state"], i["total_amount"]) for i in invoices] == [
        ("INV-10", "paid", Decimal("476.00"))
    ]
    payments = await records(
        purchasing, "account.payment", [("kind", "=", "payable"), ("reference", "=", due.key)]
    )
    assert [p["state"] for p in payments] == ["succeeded"]
    with pytest.raises(BusinessRuleError, match="is paid") as paid:
        await purchasing.cancel_supplier_invoice(first[2], idempotency_key=f"{rid}:undo:invoice")
    assert paid.value.code == "SupplierInvoicePaid"

    page = await purchasing.purchase_changes(None, None, 100)
    (change,) = [c for c in page.items if c.requisition_id == rid]
    assert change.status == "completed" and change.supplier_id == "SUP-100"
    assert (change.total, change.received, change.invoiced, change.paid) == (
        Decimal("400"),
        Decimal("400"),
        Decimal("400"),
        Decimal("476"),
    )


async def test_a_supplier_reference_tryton_holds_is_refused_and_a_credited_invoice_reissued(
    purchasing: TrytonErpClient,
) -> None:
    rid = "PR-20"
    po = await purchasing.create_purchase_order(
        requisition(rid, ("SKU-005", "4", "10.00")), idempotency_key=f"{rid}:create"
    )
    await purchasing.record_goods_receipt(
        po.purchase_order_id, receipt(rid, "GR-20", (1, "4")), idempotency_key=f"{rid}:gr"
    )
    bill = invoice(rid, "INV-2020-001", (1, "4", "10.00"), tax="7.60")
    await purchasing.post_supplier_invoice(
        po.purchase_order_id, bill, idempotency_key=f"{rid}:invoice:1"
    )
    for spelling in ("INV-2020-001", "inv 2020 001", "INV2020001"):
        again = bill.model_copy(update={"reference": spelling})
        with pytest.raises(ConflictError, match="duplicate") as err:
            await purchasing.post_supplier_invoice(
                po.purchase_order_id, again, idempotency_key=f"{rid}:invoice:{spelling}"
            )
        assert err.value.code == "DuplicateSupplierInvoice" and not err.value.retryable
    # The same key with another reference is another request, not a repeat.
    with pytest.raises(ConflictError, match="recorded invoice INV-2020-001") as conflict:
        await purchasing.post_supplier_invoice(
            po.purchase_order_id,
            bill.model_copy(update={"reference": "INV-OTHER"}),
            idempotency_key=f"{rid}:invoice:1",
        )
    assert conflict.value.code == "IdempotencyConflict"
    invoices = await supplier_invoices(purchasing, po.purchase_order_id)
    assert [(i["reference"], i["state"]) for i in invoices] == [("INV-2020-001", "posted")]

    # What a rejected invoice gets: a credit note for all of it, then the invoice reissued.
    credit = invoice(rid, "CN-2020-001", (1, "4", "10.00"), tax="7.60", credit="INV-2020-001")
    await purchasing.post_supplier_invoice(
        po.purchase_order_id, credit, idempotency_key=f"{rid}:credit"
    )
    reissued = invoice(rid, "INV-2020-002", (1, "4", "9.50"), tax="7.22")
    await purchasing.post_supplier_invoice(
        po.purchase_order_id, reissued, idempotency_key=f"{rid}:invoice:2"
    )
    invoices = await supplier_invoices(purchasing, po.purchase_order_id)
    assert [(i["reference"], i["state"], i["total_amount"]) for i in invoices] == [
        # Settled against each other, as Tryton's own credit with refund would.
        ("INV-2020-001", "paid", Decimal("47.60")),
        ("CN-2020-001", "paid", Decimal("-47.60")),
        # On the draft Tryton made once the first invoice was credited: no draft is left.
        ("INV-2020-002", "posted", Decimal("45.22")),
    ]


async def test_partial_receipts_and_a_dearer_invoice_are_booked_as_the_supplier_printed_them(
    purchasing: TrytonErpClient,
) -> None:
    rid = "PR-30"
    po = await purchasing.create_purchase_order(
        requisition(rid, ("SKU-006", "10", "20.00")), idempotency_key=f"{rid}:create"
    )
    pid = po.purchase_order_id
    with pytest.raises(InvalidRequestError, match="no line 9"):
        await purchasing.record_goods_receipt(
            pid, receipt(rid, "GR-30x", (1, "1"), (9, "1")), idempotency_key=f"{rid}:gr:x"
        )
    boxes = receipt(rid, "GR-30y", (1, "1")).model_copy(
        update={"lines": [ReceiptLine(line_no=1, quantity=Decimal(1), unit="box")]}
    )
    with pytest.raises(InvalidRequestError, match="no unit 'box'") as unit:
        await purchasing.record_goods_receipt(pid, boxes, idempotency_key=f"{rid}:gr:y")
    assert unit.value.code == "UnknownUnit"
    await purchasing.record_goods_receipt(
        pid, receipt(rid, "GR-30a", (1, "4")), idempotency_key=f"{rid}:gr:a"
    )
    await purchasing.record_goods_receipt(
        pid, receipt(rid, "GR-30b", (1, "3")), idempotency_key=f"{rid}:gr:b"
    )
    (purchase,) = await records(
        purchasing, "purchase.purchase", [("id", "=", int(pid))], "shipments"
    )
    assert len(purchase["shipments"]) == 2  # the refused receipts left none
    # Two receipts, one draft: Tryton's two drafts were merged into one for the 7 received.
    drafts = await supplier_invoices(purchasing, pid)
    assert [(d["state"], d["untaxed_amount"]) for d in drafts] == [("draft", Decimal("140.00"))]
    moves = await records(purchasing, "stock.move", [("purchase", "=", int(pid))], "quantity")
    assert sorted((m["state"], m["quantity"]) for m in moves) == [
        ("done", 3.0),
        ("done", 4.0),
        ("draft", 3.0),  # Tryton still expects the rest
    ]

    # The supplier bills 6 of the 7 at a higher price, with its own rounding of the tax.
    bill = invoice(rid, "INV-30", (1, "6", "20.50"), tax="23.39")
    posted = await purchasing.post_supplier_invoice(pid, bill, idempotency_key=f"{rid}:inv")
    assert (posted.net, posted.tax) == (Decimal("123.00"), Decimal("23.39"))
    invoices = await supplier_invoices(purchasing, pid)
    assert [(i["reference"], i["state"], i["total_amount"]) for i in invoices] == [
        ("INV-30", "posted", Decimal("146.39")),
        # What was received but not billed, drafted again by Tryton for the next invoice.
        (None, "draft", Decimal("23.80")),
    ]


async def test_a_return_and_its_credit_note_are_netted_into_one_payment(
    purchasing: TrytonErpClient,
) -> None:
    rid = "PR-40"
    po = await purchasing.create_purchase_order(
        requisition(rid, ("SKU-007", "10", "10.00")), idempotency_key=f"{rid}:create"
    )
    pid = po.purchase_order_id
    await purchasing.record_goods_receipt(
        pid, receipt(rid, "GR-40", (1, "10")), idempotency_key=f"{rid}:gr"
    )
    await purchasing.post_supplier_invoice(
        pid, invoice(rid, "INV-40", (1, "10", "10.00"), tax="19.00"), idempotency_key=f"{rid}:i"
    )
    back = receipt(rid, "RET-40", (1, "2"), back=True)
    returned = await purchasing.record_goods_receipt(pid, back, idempotency_key=f"{rid}:ret")
    assert returned.erp_receipt_id.startswith("return:")
    assert await purchasing.record_goods_receipt(pid, back, idempotency_key=f"{rid}:ret") == (
        returned
    )
    # Tryton now expects a credit for the 2 sent back: a draft with a negative line.
    (_, expected) = await supplier_invoices(purchasing, pid)
    assert (expected["state"], expected["untaxed_amount"]) == ("draft", Decimal("-20.00"))

    credit = invoice(rid, "CN-40", (1, "2", "10.00"), tax="3.80", credit="INV-40")
    noted = await purchasing.post_supplier_invoice(pid, credit, idempotency_key=f"{rid}:cn")
    assert (noted.kind, noted.net, noted.tax) == ("credit_note", Decimal("20.00"), Decimal("3.80"))

    due = PaymentDue(
        invoice_reference="INV-40",
        lines=[1],
        amount=Decimal("95.20"),  # 119.00 less the credit note's 23.80
        tax=Decimal("15.20"),
        currency="EUR",
        due_on=TODAY,
        credit_references=["CN-40"],
    )
    with pytest.raises(BusinessRuleError, match=r"more than the 119\.00 left") as refused:
        await purchasing.pay_supplier(
            pid,
            "SUP-100",
            due.model_copy(update={"amount": Decimal("119.01"), "lines": [9]}),
            idempotency_key=f"{rid}:pay:too-much",
        )
    assert refused.value.code == "Overpayment"
    for _ in range(2):
        await purchasing.pay_supplier(pid, "SUP-100", due, idempotency_key=f"{rid}:pay:{due.key}")
    invoices = await supplier_invoices(purchasing, pid)
    assert [(i["reference"], i["state"]) for i in invoices] == [
        ("INV-40", "paid"),
        ("CN-40", "paid"),
    ]
    payments = await records(purchasing, "account.payment", [("reference", "like", "INV-40%")])
    assert [p["state"] for p in payments] == ["succeeded"]
    (purchase,) = await tryton_purchases(purchasing, rid)
    assert purchase["state"] == "done"


async def test_compensation_cancels_the_invoice_returns_the_goods_and_cancels_the_order(
    purchasing: TrytonErpClient,
) -> None:
    rid = "PR-50"
    po = await purchasing.create_purchase_order(
        requisition(rid, ("SKU-008", "6", "15.00"), ("SKU-009", "2", "45.00")),
        idempotency_key=f"{rid}:create",
    )
    pid = po.purchase_order_id
    got = await purchasing.record_goods_receipt(
        pid, receipt(rid, "GR-50", (1, "6")), idempotency_key=f"{rid}:gr"
    )
    posted = await purchasing.post_supplier_invoice(
        pid, invoice(rid, "INV-50", (1, "6", "15.00"), tax="17.10"), idempotency_key=f"{rid}:i"
    )
    with pytest.raises(BusinessRuleError, match="received"):
        await purchasing.cancel_purchase_order(pid, idempotency_key=f"{rid}:cancel-too-soon")

    # The saga's undo, in reverse order, each step twice.
    for _ in range(2):
        cancelled = await purchasing.cancel_supplier_invoice(
            posted.erp_invoice_id, idempotency_key=f"{rid}:undo:invoice"
        )
        assert cancelled.status is ErpSupplierInvoiceStatus.CANCELLED
    for _ in range(2):
        back = await purchasing.return_goods(got.erp_receipt_id, idempotency_key=f"{rid}:undo:gr")
        assert back.status is ErpReceiptStatus.RETURNED
    for _ in range(2):
        order = await purchasing.cancel_purchase_order(pid, idempotency_key=f"{rid}:undo:po")
        assert order.status is PurchaseOrderStatus.CANCELLED

    (invoice_record,) = [
        i for i in await supplier_invoices(purchasing, pid) if i["reference"] == "INV-50"
    ]
    assert invoice_record["state"] == "cancelled"
    returns = await records(
        purchasing, "stock.shipment.in.return", [("reference", "=", "return of GR-50")]
    )
    assert [r["state"] for r in returns] == ["done"]
    moves = await records(purchasing, "stock.move", [("purchase", "=", int(pid))])
    assert not [m for m in moves if m["state"] not in ("done", "cancelled")]
    with pytest.raises(BusinessRuleError, match="cancelled"):
        await purchasing.record_goods_receipt(
            pid, receipt(rid, "GR-51", (2, "1")), idempotency_key=f"{rid}:gr:late"
        )


async def test_an_order_cancelled_before_any_goods_is_cancelled_in_tryton(
    purchasing: TrytonErpClient,
) -> None:
    rid = "PR-60"
    po = await purchasing.create_purchase_order(
        requisition(rid, ("SKU-010", "3", "5.00")), idempotency_key=f"{rid}:create"
    )
    for _ in range(2):
        order = await purchasing.cancel_purchase_order(
            po.purchase_order_id, idempotency_key=f"{rid}:cancel"
        )
        assert order.status is PurchaseOrderStatus.CANCELLED
    moves = await records(purchasing, "stock.move", [("purchase", "=", int(po.purchase_order_id))])
    assert [m["state"] for m in moves] == ["cancelled"]
    page = await purchasing.purchase_changes(None, None, 100)
    (change,) = [c for c in page.items if c.requisition_id == rid]
    assert change.status == "cancelled"
