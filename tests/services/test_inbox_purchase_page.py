"""The inbox's purchase pages rendered from the models the workflow answers with: an exception
review shows the order, receipts, invoices and the match per line side by side with a checkbox
per line in exception; a requisition's approval shows its lines; a decision's form turns into
the Approval's decide update with the ticked parts."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from html.parser import HTMLParser
from typing import Any

import pytest

from domain.approvals.models import ApprovalState, LevelState, Verdict
from domain.purchasing.models import (
    DocumentKind,
    GoodsReceipt,
    InvoiceLine,
    LineMatch,
    MatchReport,
    MatchStatus,
    PurchaseResult,
    PurchaseStatus,
    ReceiptKind,
    ReceiptLine,
    RefusedDocument,
    Requisition,
    RequisitionLine,
    SupplierInvoice,
    Tolerance,
)
from services.gateway.approvals import Refused
from services.gateway.inbox import ACCEPT_SELECTED, _verdict, templates
from services.gateway.purchase_view import purchase_page, qty, signed

NOW = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
D = Decimal


def requisition() -> Requisition:
    return Requisition(
        requisition_id="R-7",
        requested_by="rita",
        supplier_id="SUP-101",
        cost_centre="CC-CAFE",
        currency="EUR",
        lines=[
            RequisitionLine(line_no=1, product="SKU-002", description="Coffee grinder",
                            quantity=D("5"), expected_price=D("89.00")),
            RequisitionLine(line_no=2, product="SKU-005", description="Descaling kit",
                            quantity=D("20"), expected_price=D("9.99")),
            RequisitionLine(line_no=3, product="SKU-004", quantity=D("10"),
                            unit="piece", conversions={"box": D("5")}, expected_price=D("12.00")),
        ],
    )  # fmt: skip


def line(no: int, product: str, status: MatchStatus, **values: Any) -> LineMatch:
    base: dict[str, Any] = {
        "ordered": D("5"),
        "received": D("5"),
        "invoiced": D("5"),
        "order_price": D("89.00"),
        "invoiced_price": D("89.00"),
        "quantity_variance": D("0"),
        "price_variance": D("0"),
        "amount_variance": D("0"),
    }
    return LineMatch(line_no=no, product=product, status=status, **{**base, **values})


def result() -> PurchaseResult:
    tolerance = Tolerance(price_pct=D("2"), price_abs=D("0.50"), amount_cap=D("50"))
    return PurchaseResult(
        requisition_id="R-7",
        status=PurchaseStatus.IN_EXCEPTION,
        supplier_id="SUP-101",
        currency="EUR",
        total=D("764.80"),
        purchase_order_id="PO-31",
        receipts=[
            GoodsReceipt(requisition_id="R-7", receipt_id="GR-1", received_at=NOW,
                         lines=[ReceiptLine(line_no=1, quantity=D("5")),
                                ReceiptLine(line_no=3, quantity=D("2"), unit="box")]),
            GoodsReceipt(requisition_id="R-7", receipt_id="GR-2", kind=ReceiptKind.RETURN,
                         lines=[ReceiptLine(line_no=2, quantity=D("1"))]),
        ],
        invoices=[
            SupplierInvoice(requisition_id="R-7", supplier_id="SUP-101", reference="INV-55",
                            currency="EUR", issued_on=date(2026, 12, 7), due_on=date(2026, 12, 7),
                            tax=D("0"), lines=[InvoiceLine(line_no=1, quantity=D("5"),
                                                           unit_price=D("98.00")),
                                               InvoiceLine(line_no=2, quantity=D("20"),
                                                           unit_price=D("9.99"))]),
            SupplierInvoice(requisition_id="R-7", supplier_id="SUP-101", reference="CN-1",
                            kind=DocumentKind.CREDIT_NOTE, credits_reference="INV-55",
                            currency="EUR", issued_on=date(2026, 12, 8), due_on=date(2026, 12, 8),
                            tax=D("0"), lines=[InvoiceLine(line_no=2, quantity=D("1"),
                                                           unit_price=D("9.99"))]),
        ],
        refused=[RefusedDocument(reference="inv 55", kind="invoice", at=NOW,
                                 reason="duplicate of INV-55 (same supplier, reference, amount)")],
        match=MatchReport(lines=[
            line(1, "SKU-002", MatchStatus.EXCEPTION, invoiced_price=D("98.00"),
                 price_variance=D("9.00"), amount_variance=D("45.00"),
                 reasons=["price 98.00 is 10.1 % over the order price 89.00"],
                 tolerance=tolerance),
            line(2, "SKU-005", MatchStatus.EXCEPTION, ordered=D("20"), received=D("19"),
                 invoiced=D("19.000"), order_price=D("9.99"), invoiced_price=D("9.99"),
                 quantity_variance=D("0"), reasons=["received 19 of 20"], tolerance=tolerance),
            line(3, "SKU-004", MatchStatus.OPEN, ordered=D("10"), received=D("10"),
                 invoiced=D("0"), order_price=D("12.00"), invoiced_price=None),
        ], total_variance=D("45.00")),
        pending_review="approval-purchase-R-7-exception-1",
    )  # fmt: skip


def approval(kind: str, parts: list[str]) -> ApprovalState:
    return ApprovalState(
        subject_id="purchase-R-7-exception-1" if parts else "purchase-R-7",
        kind=kind,
        requester="rita",
        summary="Purchase R-7: 2 lines in exception",
        amount=D("45.00"),
        currency="EUR",
        current_level=0,
        pending_role="buyer",
        final_deadline=NOW + timedelta(days=5),
        deadline_outcome=Verdict.REJECTED,
        levels=[LevelState(index=0, role="buyer", roles=["buyer"], started_at=NOW)],
        process_id="purchase-R-7",
        parts=parts,
    )


def render(state: ApprovalState, req: Requisition | None, res: PurchaseResult | None) -> str:
    page = purchase_page("purchase-R-7", req, res, state.parts)
    context = {
        "approval_id": f"approval-{state.subject_id}",
        "state": state,
        "order": None,
        "order_status": None,
        "purchase": page,
        "by_parts": bool(state.parts),
        "pending": True,
        "level": 0,
        "colleagues": [],
        "approval_link": None,
        "order_link": None,
        "purchase_link": "http://ui/namespaces/default/workflows/purchase-R-7",
        "form_id": "f" * 22,
        "error": None,
        "user": "paula",
        "person": None,
        "operator": False,
        "csrf": "token",
        "flash": None,
    }
    return templates.env.get_template("approval.html").render(context)


class Table(HTMLParser):
    """The side-by-side table's rows: their class and their cells as text."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[tuple[str, list[str]]] = []
        self.inside = False
        self.cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        css = dict(attrs).get("class") or ""
        if tag == "table" and "side-by-side" in css:
            self.inside = True
        elif self.inside and tag == "tr":
            self.rows.append((css, []))
        elif self.inside and tag in ("td", "th"):
            self.cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self.inside = False
        elif self.inside and tag in ("td", "th") and self.cell is not None:
            self.rows[-1][1].append(" ".join(" ".join(self.cell).split()))
            self.cell = None

    def handle_data(self, data: str) -> None:
        if self.cell is not None:
            self.cell.append(data)


def table_of(html: str) -> list[list[str]]:
    """Header rows, then one row per line whose last cell is the row under it (its reasons
    and the tolerance applied; "" when there is none)."""
    parser = Table()
    parser.feed(html)
    rows: list[list[str]] = []
    for css, cells in parser.rows:
        if "why" in css.split():
            rows[-1][-1] = " ".join(c for c in cells if c)
        else:
            rows.append([*cells, ""] if "line" in css.split() else cells)
    return rows


def test_an_exception_review_shows_order_receipts_invoices_and_match_per_line() -> None:
    html = render(approval("purchase_exception", ["1", "2"]), requisition(), result())
    groups, header, *lines = table_of(html)
    assert groups == ["Order", "Receipts", "Invoices", "Three-way match"]
    assert header[:4] == ["Line", "Product", "Ordered", "Order price"]
    assert header[4:8] == [
        f"Receipt GR-1 {NOW:%Y-%m-%d}",
        "Return GR-2",
        "Invoice INV-55 2026-12-07",
        "Credit note CN-1 2026-12-08",
    ]
    assert header[8:] == ["Received", "Invoiced", "Invoice price", "Variance", "Status"]
    first, second, third = lines
    assert first[:4] == ["1", "SKU-002 Coffee grinder", "5 unit", "89.00"]
    assert first[4:8] == ["5", "—", "5 × 98.00", "—"]
    assert first[8:13] == [
        "5",
        "5",
        "98.00",
        "qty 0 price +9.00 (+10.1 %) amount +45.00",
        "exception",
    ]
    assert first[13] == (
        "price 98.00 is 10.1 % over the order price 89.00 "
        "tolerance applied: quantity 0 %, price 2 % or 0.50, cap 50.00"
    )
    # A return and a credit note count against the line; a receipt in boxes says so.
    assert second[4:8] == ["—", "−1", "20 × 9.99", "−1 × 9.99"]
    assert second[8:10] == ["19", "19"] and second[13].startswith("received 19 of 20")
    assert third[4:8] == ["2 box", "—", "—", "—"]
    assert third[10] == "—" and third[12:] == ["open", ""]
    # A checkbox for each line in exception, none for the others; three ways to decide.
    assert re.findall(r'name="part" value="(\d+)"', html) == ["1", "2"]
    for button in ("Accept all", "Accept selected lines", "Reject (ask for a credit note)"):
        assert f">{button}</button>" in html
    assert f'value="{ACCEPT_SELECTED}"' in html and 'name="csrf_token" value="token"' in html
    # The evidence beside it: the refused duplicate, the purchase order, the link to it.
    assert "duplicate of INV-55 (same supplier, reference, amount)" in html
    assert "PO-31" in html and "http://ui/namespaces/default/workflows/purchase-R-7" in html


def test_a_requisition_approval_shows_its_lines_and_an_approve_or_reject_form() -> None:
    pending = result().model_copy(
        update={"status": PurchaseStatus.AWAITING_APPROVAL, "receipts": [], "invoices": [],
                "match": None, "refused": [], "purchase_order_id": None}
    )  # fmt: skip
    html = render(approval("purchase", []), requisition(), pending)
    groups, header, *lines = table_of(html)
    assert groups == ["Order"] and header == ["Line", "Product", "Ordered", "Order price"]
    assert "(amounts in EUR, net of tax)" in html
    assert [row[:4] for row in lines] == [
        ["1", "SKU-002 Coffee grinder", "5 unit", "89.00"],
        ["2", "SKU-005 Descaling kit", "20 unit", "9.99"],
        ["3", "SKU-004", "10 piece", "12.00"],
    ]
    assert "CC-CAFE" in html and "764.80 EUR net" in html
    assert 'name="part"' not in html
    assert ">Approve</button>" in html and ">Reject</button>" in html


def test_without_the_requisition_the_match_still_gives_the_lines() -> None:
    page = purchase_page("purchase-R-7", None, result(), ["1"], "the requisition cannot be read")
    assert [(row.line_no, row.ordered, row.part) for row in page.lines] == [
        (1, D("5"), "1"),
        (2, D("20"), None),
        (3, D("10"), None),
    ]
    html = render(approval("purchase_exception", ["1"]), None, result())
    assert "Coffee grinder" not in html and "SKU-002" in html


def test_the_form_becomes_a_decision_on_the_ticked_parts_or_the_whole() -> None:
    assert _verdict(ACCEPT_SELECTED, ["10", "2", "2"]) == (Verdict.APPROVED, ["2", "10"])
    assert _verdict("approved", ["2"]) == (Verdict.APPROVED, [])  # accept all: every line
    assert _verdict("rejected", ["2"]) == (Verdict.REJECTED, [])
    with pytest.raises(Refused, match="Tick the lines to accept"):
        _verdict(ACCEPT_SELECTED, [])
    with pytest.raises(Refused, match="Choose approve or reject"):
        _verdict("maybe", [])


def test_quantities_and_variances_read_as_people_write_them() -> None:
    assert [qty(D(v)) for v in ("10.000", "1E+1", "2.50", "0.125", "0")] == [
        "10",
        "10",
        "2.5",
        "0.125",
        "0",
    ]
    assert [signed(D(v)) for v in ("1.5", "-2", "0", "1234.567")] == [
        "+1.50",
        "−2.00",
        "0.00",
        "+1,234.57",
    ]
