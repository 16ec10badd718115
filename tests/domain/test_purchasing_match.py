"""The three-way match: ordered vs received vs invoiced per line, within the tolerance or an
exception with its reasons; returns, credit notes, units and currencies in the arithmetic."""

from __future__ import annotations

from decimal import Decimal
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.purchasing.matching import minor_units, round_money, three_way_match
from domain.purchasing.models import (
    DocumentKind,
    GoodsReceipt,
    MatchReport,
    MatchStatus,
    ReceiptKind,
    Requisition,
    SupplierInvoice,
    Tolerance,
)
from domain.purchasing.policy import TolerancePolicy
from tests.purchasing_samples import (
    credit_note,
    invoice,
    invoice_for,
    line,
    receipt,
    requisition,
    returned,
)

D = Decimal
EXACT = TolerancePolicy(default=Tolerance())
USUAL = TolerancePolicy(
    default=Tolerance(quantity_pct=D(5), price_pct=D(2), amount_cap=D(50)),
    by_category={"raw": Tolerance(quantity_pct=D(10), price_abs=D("0.50"))},
)
# The same with any tax figure accepted, for invoices built without caring for their tax.
ANY_TAX = USUAL.model_copy(
    update={"default": USUAL.default.model_copy(update={"tax_abs": D(10**9)})}
)
REQ = requisition(
    line(1, "10", "10.00", conversions={"box": "12", "pack": "2.5"}),
    line(2, "4", "2.50", category="raw"),
)


def match(
    receipts: list[GoodsReceipt],
    invoices: list[SupplierInvoice],
    req: Requisition = REQ,
    tolerances: TolerancePolicy = USUAL,
) -> MatchReport:
    return three_way_match(req, receipts, invoices, tolerances)


def test_an_invoice_for_what_was_received_at_the_order_price_matches() -> None:
    report = match(
        [receipt("G-1", (1, "10"), (2, "4"))],
        [invoice("INV-1", (1, "10", "10.00"), (2, "4", "2.50"))],
    )
    assert [m.status for m in report.lines] == [MatchStatus.MATCHED] * 2
    assert report.clean and report.total_variance == 0 and report.document_reasons == []
    first = report.lines[0]
    assert (first.ordered, first.received, first.invoiced) == (D(10), D(10), D(10))
    assert first.invoiced_price == D("10.00") and first.amount_variance == 0
    assert first.documents == ["INV-1"] and first.tolerance == USUAL.default


def test_a_line_is_open_until_invoiced_and_a_partial_invoice_matches() -> None:
    report = match([receipt("G-1", (1, "6"))], [invoice("INV-1", (1, "4", "10.00"))])
    first, second = report.lines
    assert first.status is MatchStatus.MATCHED
    assert (first.received, first.invoiced, first.quantity_variance) == (D(6), D(4), D(-2))
    assert second.status is MatchStatus.OPEN and second.invoiced_price is None
    assert second.amount_variance == 0 and second.price_variance == 0


def test_an_exception_says_why_in_words() -> None:
    report = match([receipt("G-1", (1, "10"))], [invoice("INV-1", (1, "12", "10.30"))])
    line = report.lines[0]
    assert line.status is MatchStatus.EXCEPTION
    assert line.reasons == [
        "invoiced 12 but received 10 (+20.0 %, tolerance 5 %)",
        "invoiced at 10.30 but ordered at 10.00 (+3.0 %, tolerance 2 %)",
    ]
    assert (line.quantity_variance, line.price_variance, line.amount_variance) == (
        D(2),
        D("0.30"),
        D("23.60"),
    )
    assert report.exceptions == [line] and not report.clean
    # Invoicing goods that never arrived says so without a percentage of nothing.
    nothing = match([], [invoice("INV-1", (1, "1", "10.00"))]).lines[0]
    assert nothing.reasons == ["invoiced 1 but received 0 (tolerance 5 %)"]


def test_over_delivered_goods_are_paid_only_as_ordered() -> None:
    report = match([receipt("G-1", (1, "12"))], [invoice("INV-1", (1, "12", "10.00"))])
    assert report.lines[0].reasons == ["invoiced 12 but ordered 10 (+20.0 %, tolerance 5 %)"]


def at(price: str, quantity: str = "10") -> MatchStatus:
    return (
        match([receipt("G-1", (1, "10"))], [invoice("INV-1", (1, quantity, price))]).lines[0].status
    )


def test_the_price_tolerance_edges_to_the_cent() -> None:
    assert at("10.00") is MatchStatus.MATCHED
    assert at("10.20") is MatchStatus.WITHIN_TOLERANCE  # +2 % exactly
    assert at("10.21") is MatchStatus.EXCEPTION
    assert at("9.00") is MatchStatus.WITHIN_TOLERANCE  # cheaper is a variance, never a problem


def test_the_quantity_tolerance_edges() -> None:
    assert at("10.00", "10.5") is MatchStatus.WITHIN_TOLERANCE  # +5 % exactly
    assert at("10.00", "10.51") is MatchStatus.EXCEPTION


def test_either_price_tolerance_allows_an_increase() -> None:
    either = TolerancePolicy(default=Tolerance(price_pct=D(2), price_abs=D("0.50")))
    req = requisition(line(1, "1", "10.00"), line(2, "1", "100.00"))
    report = match(
        [receipt("G-1", (1, "1"), (2, "1"))],
        [invoice("INV-1", (1, "1", "10.50"), (2, "1", "102.00"))],
        req,
        either,
    )
    assert [m.status for m in report.lines] == [MatchStatus.WITHIN_TOLERANCE] * 2
    report = match(
        [receipt("G-1", (1, "1"), (2, "1"))],
        [invoice("INV-1", (1, "1", "10.51"), (2, "1", "102.01"))],
        req,
        either,
    )
    assert report.lines[0].reasons == [
        "invoiced at 10.51 but ordered at 10.00 (+5.1 %, tolerance 2 % or 0.5)"
    ]
    assert report.lines[1].reasons == [
        "invoiced at 102.01 but ordered at 100.00 (+2.0 %, tolerance 2 % or 0.5)"
    ]


def test_the_amount_cap_edges_to_the_minor_unit() -> None:
    capped = TolerancePolicy(
        default=Tolerance(quantity_pct=D(100), price_pct=D(100), amount_cap=D(50))
    )
    req = requisition(line(1, "100", "1.00"))
    at_cap = match(
        [receipt("G-1", (1, "100"))], [invoice("INV-1", (1, "100", "1.50"))], req, capped
    )
    assert at_cap.lines[0].status is MatchStatus.WITHIN_TOLERANCE
    assert at_cap.lines[0].amount_variance == D("50.00")
    over = match(
        [receipt("G-1", (1, "100"))], [invoice("INV-1", (1, "100", "1.5001"))], req, capped
    )
    assert over.lines[0].reasons == ["amount variance 50.01 EUR is above the cap 50"]
    # In yen the minor unit is the yen.
    yen = requisition(line(1, "100", "100"), currency="JPY")
    ok = match(
        [receipt("G-1", (1, "100"))],
        [invoice("INV-1", (1, "100", "100.5"), currency="JPY")],
        yen,
        capped,
    )
    assert (
        ok.lines[0].amount_variance == D(50) and ok.lines[0].status is MatchStatus.WITHIN_TOLERANCE
    )
    over_yen = match(
        [receipt("G-1", (1, "100"))],
        [invoice("INV-1", (1, "100", "100.51"), currency="JPY")],
        yen,
        capped,
    )
    assert over_yen.lines[0].amount_variance == D(51)
    assert over_yen.lines[0].status is MatchStatus.EXCEPTION


def test_the_category_and_supplier_tolerances_apply_per_line() -> None:
    report = match(
        [receipt("G-1", (2, "4"))], [invoice("INV-1", (2, "4.4", "3.00"))]
    )  # raw: +10 % quantity, 0.50 a unit
    line = report.lines[1]
    assert line.status is MatchStatus.WITHIN_TOLERANCE
    assert line.tolerance == USUAL.by_category["raw"]


def test_receipts_and_invoices_in_other_units_are_converted() -> None:
    report = match(
        [receipt("G-1", (1, "0.5", "box"), (1, "1", "pack")), receipt("G-2", (1, "1.5"))],
        [invoice("INV-1", (1, "1", "120.00", "box"))],
    )  # 6 + 2.5 + 1.5 = 10 received; one box of 12 at 10.00 a unit
    line = report.lines[0]
    assert line.received == 10 and line.invoiced == 12 and line.invoiced_price == D("10.00")
    assert line.reasons == ["invoiced 12 but received 10 (+20.0 %, tolerance 5 %)"]


def test_an_unknown_unit_is_an_exception_not_a_crash() -> None:
    report = match(
        [receipt("G-1", (1, "10"), (2, "1", "kg"))],
        [invoice("INV-1", (1, "1", "100.00", "pallet"), (2, "4", "2.50"))],
    )
    first, second = report.lines
    assert first.reasons == ["invoice INV-1: 1 pallet has no conversion to unit: not counted"]
    assert first.status is MatchStatus.EXCEPTION and first.invoiced == 0
    assert second.reasons[0] == "receipt G-1: 1 kg has no conversion to unit: not counted"
    assert second.status is MatchStatus.EXCEPTION
    # Before anything is invoiced, the line stays open and shows the problem.
    assert match([receipt("G-1", (2, "1", "kg"))], []).lines[1].status is MatchStatus.OPEN


def test_returns_and_credit_notes_are_part_of_the_arithmetic() -> None:
    receipts = [receipt("G-1", (1, "12")), returned("G-2", (1, "2"))]
    over = [invoice("INV-1", (1, "12", "10.00"))]
    assert match(receipts, over).lines[0].status is MatchStatus.EXCEPTION
    credited = [*over, credit_note("CN-1", "INV-1", (1, "2", "10.00"))]
    line = match(receipts, credited).lines[0]
    assert line.status is MatchStatus.MATCHED and (line.received, line.invoiced) == (D(10), D(10))
    assert line.documents == ["INV-1", "CN-1"]


def test_an_invoice_in_another_currency_is_an_exception_until_reissued() -> None:
    receipts = [receipt("G-1", (1, "10"))]
    usd = invoice("INV-1", (1, "10", "10.00"), currency="USD")
    report = match(receipts, [usd])
    reason = "invoice INV-1 is in USD, the order in EUR"
    assert report.document_reasons == [reason]
    assert report.lines[0].status is MatchStatus.EXCEPTION and reason in report.lines[0].reasons
    assert report.lines[0].invoiced == 10 and report.lines[0].invoiced_price is None
    # Credited in full and reissued in euros: nothing wrong is left.
    reissued = [
        usd,
        credit_note("CN-1", "INV-1", (1, "10", "10.00"), currency="USD"),
        invoice("INV-2", (1, "10", "10.00")),
    ]
    report = match(receipts, reissued)
    assert report.clean and report.lines[0].status is MatchStatus.MATCHED


def test_a_tax_figure_that_does_not_add_up_is_a_document_reason() -> None:
    receipts = [receipt("G-1", (1, "10"))]
    within = invoice("INV-1", (1, "10", "10.00"), tax="19.05")  # 19.00 computed, 0.05 allowed
    assert match(receipts, [within]).clean
    wrong = invoice("INV-1", (1, "10", "10.00"), tax="19.06")
    report = match(receipts, [wrong])
    reason = "invoice INV-1: tax 19.06 but its lines' tax is 19.00 (tolerance 0.05)"
    assert report.document_reasons == [reason] and report.lines[0].reasons == [reason]
    assert report.lines[0].status is MatchStatus.EXCEPTION


def test_a_credit_note_for_an_invoice_not_received_or_taking_back_too_much() -> None:
    receipts = [receipt("G-1", (1, "10"))]
    orphan = match(receipts, [credit_note("CN-1", "INV-9", (1, "1", "10.00"))])
    assert orphan.document_reasons == [
        "credit note CN-1 credits INV-9, which has not been received"
    ]
    too_much = match(
        receipts,
        [invoice("INV-1", (1, "2", "10.00")), credit_note("CN-1", "INV-1", (1, "3", "10.00"))],
    )
    assert too_much.lines[0].status is MatchStatus.EXCEPTION
    assert too_much.lines[0].reasons == [
        "credit notes take back more of line 1 than invoice INV-1 charged",
        "credited 1 unit more than was invoiced",
    ]


@pytest.mark.parametrize(
    ("amount", "currency", "rounded"),
    [
        ("2.345", "EUR", "2.35"),
        ("-2.345", "EUR", "-2.35"),
        ("2.344", "EUR", "2.34"),
        ("1234.5", "JPY", "1235"),
        ("99.4", "KRW", "99"),
        ("1.2345", "KWD", "1.235"),
        ("1.2344", "BHD", "1.234"),
        ("7", "ISK", "7"),
        ("0.005", "USD", "0.01"),
    ],
)
def test_money_is_rounded_half_up_to_the_currency_minor_unit(
    amount: str, currency: str, rounded: str
) -> None:
    result = round_money(D(amount), currency)
    assert result == D(rounded) and result.as_tuple().exponent == -minor_units(currency)


# Properties. Quantities are whole units or tenths, prices cents; three lines at most.
QTY = st.integers(min_value=1, max_value=40).map(lambda n: D(n) / 2)
PRICE = st.integers(min_value=1, max_value=20_000).map(lambda n: D(n) / 100)
RATE = st.sampled_from([D(0), D("0.07"), D("0.19")])


@st.composite
def requisitions(draw: st.DrawFn) -> Requisition:
    count = draw(st.integers(min_value=1, max_value=3))
    return requisition(
        *(
            line(
                n,
                str(draw(QTY)),
                str(draw(PRICE)),
                tax_rate=str(draw(RATE)),
                conversions={"box": "12"},
            )
            for n in range(1, count + 1)
        )
    )


def split(data: st.DataObject, total: Decimal) -> list[Decimal]:
    """`total` in 1-4 positive parts (halves)."""
    halves = int(total * 2)
    cuts = sorted(data.draw(st.sets(st.integers(1, halves - 1), max_size=3)) if halves > 1 else [])
    bounds = [0, *cuts, halves]
    return [D(b - a) / 2 for a, b in pairwise(bounds)]


def figures(report: MatchReport) -> list[tuple[object, ...]]:
    return [
        (m.line_no, m.received, m.invoiced, m.invoiced_price, m.amount_variance, m.status)
        for m in report.lines
    ]


@settings(max_examples=60, deadline=None)
@given(req=requisitions(), data=st.data())
def test_partial_receipts_in_any_order_sum_the_same(req: Requisition, data: st.DataObject) -> None:
    parts = [(ln.line_no, part) for ln in req.lines for part in split(data, ln.quantity)]
    receipts = [receipt(f"G-{i}", (n, str(q))) for i, (n, q) in enumerate(parts)]
    shuffled = data.draw(st.permutations(receipts))
    whole = [receipt("G-all", *((ln.line_no, str(ln.quantity)) for ln in req.lines))]
    rows = [(ln.line_no, str(ln.quantity), str(ln.expected_price)) for ln in req.lines]
    invoices = [invoice_for(req, "INV-1", *rows)]
    one = three_way_match(req, whole, invoices, USUAL)
    assert figures(three_way_match(req, shuffled, invoices, USUAL)) == figures(one)
    assert all(m.status is MatchStatus.MATCHED for m in one.lines)


@settings(max_examples=60, deadline=None)
@given(req=requisitions(), data=st.data())
def test_several_invoices_count_as_one_with_their_lines(
    req: Requisition, data: st.DataObject
) -> None:
    receipts = [receipt("G-1", *((ln.line_no, str(ln.quantity)) for ln in req.lines))]
    parts = [(ln, part) for ln in req.lines for part in split(data, ln.quantity)]
    price = {ln.line_no: data.draw(PRICE) for ln in req.lines}
    several = [
        invoice_for(req, f"INV-{i}", (ln.line_no, str(q), str(price[ln.line_no])))
        for i, (ln, q) in enumerate(data.draw(st.permutations(parts)))
    ]
    one = invoice(
        "INV-all",
        *((ln.line_no, str(ln.quantity), str(price[ln.line_no])) for ln in req.lines),
        tax="0",
    )
    together = three_way_match(req, receipts, several, USUAL)
    assert figures(together) == figures(three_way_match(req, receipts, [one], ANY_TAX))
    assert together.total_variance == sum((abs(m.amount_variance) for m in together.lines), D(0))


@settings(max_examples=60, deadline=None)
@given(req=requisitions(), data=st.data())
def test_credit_notes_and_returns_subtract_exactly(req: Requisition, data: st.DataObject) -> None:
    ln = req.lines[0]
    got = data.draw(QTY)
    back = data.draw(st.integers(0, int(got * 2)).map(lambda n: D(n) / 2))
    billed = data.draw(QTY)
    credited = data.draw(st.integers(0, int(billed * 2)).map(lambda n: D(n) / 2))
    price = str(data.draw(PRICE))
    net_receipts = [receipt("G-1", (1, str(got - back)))] if got > back else []
    net_invoices = (
        [invoice("INV-1", (1, str(billed - credited), price))] if billed > credited else []
    )
    gross_receipts = [receipt("G-1", (1, str(got))), returned("G-2", (1, str(back)))]
    gross_invoices = [
        invoice("INV-1", (1, str(billed), price)),
        credit_note("CN-1", "INV-1", (1, str(credited), price)),
    ]
    a = three_way_match(req, gross_receipts, gross_invoices, ANY_TAX).lines[0]
    b = three_way_match(req, net_receipts, net_invoices, ANY_TAX).lines[0]
    assert (a.received, a.invoiced, a.amount_variance, a.status) == (
        b.received,
        b.invoiced,
        b.amount_variance,
        b.status,
    )
    assert a.received == got - back and ln.line_no == 1


@settings(max_examples=60, deadline=None)
@given(req=requisitions(), boxes=st.integers(1, 5))
def test_a_receipt_in_boxes_counts_as_the_units_in_them(req: Requisition, boxes: int) -> None:
    in_boxes = three_way_match(req, [receipt("G-1", (1, str(boxes), "box"))], [], USUAL)
    in_units = three_way_match(req, [receipt("G-1", (1, str(boxes * 12)))], [], USUAL)
    assert figures(in_boxes) == figures(in_units) and in_boxes.lines[0].received == boxes * 12


@settings(max_examples=100, deadline=None)
@given(
    price=PRICE,
    pct=st.integers(0, 20).map(D),
    abs_cents=st.integers(0, 100),
    quantity=st.integers(1, 50).map(D),
    qty_pct=st.integers(0, 20).map(D),
)
def test_exactly_at_the_limit_is_within_and_one_minor_unit_over_is_not(
    price: Decimal, pct: Decimal, abs_cents: int, quantity: Decimal, qty_pct: Decimal
) -> None:
    tol = Tolerance(quantity_pct=qty_pct, price_pct=pct, price_abs=D(abs_cents) / 100)
    policy = TolerancePolicy(default=tol)
    req = requisition(line(1, str(quantity), str(price), tax_rate="0"))
    limit = price + max(price * pct / 100, tol.price_abs)
    received = [receipt("G-1", (1, str(quantity)))]

    def status(unit_price: Decimal, invoiced: Decimal = quantity) -> MatchStatus:
        bill = invoice("INV-1", (1, str(invoiced), str(unit_price)), tax="0")
        return three_way_match(req, received, [bill], policy).lines[0].status

    assert status(limit) is not MatchStatus.EXCEPTION
    assert status(limit + D("0.01")) is MatchStatus.EXCEPTION
    most = quantity + quantity * qty_pct / 100
    assert status(price, most) is not MatchStatus.EXCEPTION
    assert status(price, most + D("0.01")) is MatchStatus.EXCEPTION


@settings(max_examples=40, deadline=None)
@given(req=requisitions(), currency=st.sampled_from(["USD", "CHF", "JPY"]))
def test_an_invoice_in_another_currency_never_matches(req: Requisition, currency: str) -> None:
    rows = [(ln.line_no, str(ln.quantity), str(ln.expected_price)) for ln in req.lines]
    report = three_way_match(
        req,
        [receipt("G-1", *((ln.line_no, str(ln.quantity)) for ln in req.lines))],
        [invoice("INV-1", *rows, currency=currency, tax="0")],
        ANY_TAX,
    )
    assert report.document_reasons == [f"invoice INV-1 is in {currency}, the order in EUR"]
    assert all(m.status is MatchStatus.EXCEPTION for m in report.lines)


@st.composite
def any_documents(draw: st.DrawFn) -> tuple[list[GoodsReceipt], list[SupplierInvoice]]:
    """Whatever arrives, refused or not: unknown lines and units, other currencies, credit
    notes for anything, zero prices."""
    line_no = st.integers(1, 4)
    unit = st.sampled_from([None, "unit", "box", "pack", "kg"])
    quantity = st.integers(1, 30).map(lambda n: D(n) / 2)
    price = st.integers(0, 3000).map(lambda n: D(n) / 100)
    receipts = [
        receipt(f"G-{i}", *rows, kind=kind)
        for i, (kind, rows) in enumerate(
            draw(
                st.lists(
                    st.tuples(
                        st.sampled_from(list(ReceiptKind)),
                        st.lists(
                            st.tuples(line_no, quantity.map(str), unit), min_size=1, max_size=3
                        ),
                    ),
                    max_size=4,
                )
            )
        )
    ]
    invoices = []
    for i in range(draw(st.integers(0, 4))):
        rows = draw(
            st.lists(
                st.tuples(line_no, quantity.map(str), price.map(str), unit), min_size=1, max_size=3
            )
        )
        credit = draw(st.booleans())
        invoices.append(
            invoice(
                f"{'CN' if credit else 'INV'}-{i}",
                *rows,
                kind=DocumentKind.CREDIT_NOTE if credit else DocumentKind.INVOICE,
                credits=f"INV-{draw(st.integers(0, 4))}" if credit else None,
                currency=draw(st.sampled_from(["EUR", "EUR", "USD", "JPY"])),
                tax=str(draw(price)),
            )
        )
    return receipts, invoices


@settings(max_examples=150, deadline=None)
@given(documents=any_documents())
def test_any_documents_give_a_consistent_report(
    documents: tuple[list[GoodsReceipt], list[SupplierInvoice]],
) -> None:
    receipts, invoices = documents
    report = three_way_match(REQ, receipts, invoices, USUAL)
    assert [m.line_no for m in report.lines] == [1, 2]
    for m in report.lines:
        assert m.amount_variance.as_tuple().exponent == -2
        assert m.quantity_variance == m.invoiced - m.received
        if m.status is MatchStatus.EXCEPTION:
            assert m.reasons
        if m.status in (MatchStatus.MATCHED, MatchStatus.WITHIN_TOLERANCE):
            assert not m.reasons and m.invoiced > 0
        if m.status is MatchStatus.MATCHED:
            assert m.price_variance == 0 and m.invoiced <= min(m.received, m.ordered)
        if m.status is MatchStatus.OPEN:
            assert m.amount_variance == 0 and m.price_variance == 0
        for reason in report.document_reasons:
            assert reason.startswith(("invoice ", "credit note", "receipt ", "return "))
    assert report.total_variance == sum((abs(m.amount_variance) for m in report.lines), D(0))
