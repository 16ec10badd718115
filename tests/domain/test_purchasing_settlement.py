"""What may be paid and when the purchase is complete: matched lines are paid once, with their
share of the tax and less their credit notes; exceptions wait for a person; nothing is paid
beyond what was received within tolerance."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import UTC, date, datetime
from decimal import Decimal

from hypothesis import event, given, settings
from hypothesis import strategies as st

from domain.purchasing.matching import round_money, three_way_match
from domain.purchasing.models import (
    DocumentKind,
    ExceptionDecision,
    GoodsReceipt,
    MatchReport,
    MatchStatus,
    PaymentDue,
    Requisition,
    SupplierInvoice,
    SupplierPayment,
    Tolerance,
)
from domain.purchasing.policy import TolerancePolicy
from domain.purchasing.settlement import (
    awaiting_credit_note,
    exception_variance,
    outstanding,
    payments_due,
    reviewed_documents,
    undecided_exceptions,
)
from tests.purchasing_samples import (
    credit_note,
    invoice_for,
    line,
    receipt,
    requisition,
)

D = Decimal
TOL = TolerancePolicy(default=Tolerance(quantity_pct=D(5), price_pct=D(2), amount_cap=D(50)))
REQ = requisition(line(1, "10", "10.00"), line(2, "4", "2.50", tax_rate="0.07"))
AT = datetime(2026, 3, 10, tzinfo=UTC)


def decide(
    round_no: int, accepted: list[int], rejected: list[int], documents: list[str] | None = None
) -> ExceptionDecision:
    return ExceptionDecision(
        round_no=round_no,
        decided_by="bruno",
        accepted_lines=accepted,
        rejected_lines=rejected,
        at=AT,
        variance=D(0),
        documents=documents or [],
    )


def pay(due: PaymentDue, n: int = 1) -> SupplierPayment:
    return SupplierPayment(
        payment_id=f"PAY-{n}",
        purchase_order_id="PO-1",
        invoice_reference=due.invoice_reference,
        lines=due.lines,
        amount=due.amount,
        currency=due.currency,
        status="paid",
    )


class Purchase:
    """The documents so far, matched as the workflow would after each of them."""

    def __init__(self, req: Requisition = REQ, tolerances: TolerancePolicy = TOL) -> None:
        self.req, self.tolerances = req, tolerances
        self.receipts: list[GoodsReceipt] = []
        self.invoices: list[SupplierInvoice] = []
        self.decisions: list[ExceptionDecision] = []
        self.paid: list[SupplierPayment] = []

    @property
    def report(self) -> MatchReport:
        return three_way_match(self.req, self.receipts, self.invoices, self.tolerances)

    def due(self) -> list[PaymentDue]:
        return payments_due(self.req, self.invoices, self.report, self.decisions, self.paid)

    def pay_all(self) -> list[PaymentDue]:
        dues = self.due()
        self.paid += [pay(d, len(self.paid) + i) for i, d in enumerate(dues)]
        return dues

    def outstanding(self) -> list[str]:
        return outstanding(self.req, self.report, self.invoices, self.decisions, self.paid)


def test_a_matched_invoice_is_paid_once_gross_on_its_due_date() -> None:
    p = Purchase()
    p.receipts.append(receipt("G-1", (1, "10"), (2, "4")))
    p.invoices.append(invoice_for(REQ, "INV-1", (1, "10", "10.00"), (2, "4", "2.50")))
    [due] = p.pay_all()
    assert due.key == "INV-1:1,2" and due.lines == [1, 2]
    assert (due.amount, due.tax, due.currency, due.due_on) == (
        D("129.70"),  # 110.00 net + 19.00 + 0.70 tax
        D("19.70"),
        "EUR",
        date(2026, 4, 1),
    )
    assert p.due() == [] and p.outstanding() == []


def test_what_is_missing_before_the_purchase_is_complete() -> None:
    p = Purchase()
    assert p.outstanding() == [
        "line 1 (product-1): received 0 of 10",
        "line 2 (product-2): received 0 of 4",
    ]
    p.receipts.append(receipt("G-1", (1, "10"), (2, "4")))
    p.invoices.append(invoice_for(REQ, "INV-1", (1, "10", "10.00")))
    assert p.outstanding() == [
        "line 2 (product-2): invoiced 0 of 4 received",
        "invoice INV-1 (lines 1): 119.00 EUR due on 2026-04-01",
    ]


def test_an_exception_holds_its_invoice_until_a_person_decides() -> None:
    p = Purchase()
    p.receipts.append(receipt("G-1", (1, "10"), (2, "4")))
    p.invoices.append(invoice_for(REQ, "INV-1", (1, "12", "10.00"), (2, "4", "2.50")))
    assert p.due() == []  # line 2 matches, but its invoice waits with line 1
    assert undecided_exceptions(p.report, p.decisions) == [1]
    assert exception_variance(p.report) == D("20.00")
    assert (
        "line 1 (product-1): exception awaiting a decision: invoiced 12 but received 10 "
        in (p.outstanding()[0])
    )
    p.decisions.append(decide(1, [1], [], reviewed_documents(p.report, [1])))
    [due] = p.pay_all()
    assert due.lines == [1, 2] and due.amount == D("153.50")  # 120.00 + 19 %, 10.00 + 7 %


def test_accept_a_part_pays_the_accepted_and_the_rest_waits_for_a_credit_note() -> None:
    p = Purchase()
    p.receipts.append(receipt("G-1", (1, "10"), (2, "4")))
    p.invoices.append(invoice_for(REQ, "INV-1", (1, "12", "10.00"), (2, "4", "3.00")))
    assert undecided_exceptions(p.report, []) == [1, 2]
    p.decisions.append(decide(1, [2], [1], reviewed_documents(p.report, [1, 2])))
    [first] = p.pay_all()
    assert first.lines == [2]
    # Line 2's share of the tax: 12.00 × 0.07 = 0.84 of the invoice's 23.64.
    assert (first.amount, first.tax) == (D("12.84"), D("0.84"))
    assert awaiting_credit_note(p.report, p.decisions) == [1]
    assert "line 1 (product-1): rejected, waiting for a credit note" in p.outstanding()
    # The supplier credits the two units too many: line 1 matches and is paid, net of the credit.
    p.invoices.append(credit_note("CN-1", "INV-1", (1, "2", "10.00")))
    assert p.report.lines[0].status is MatchStatus.MATCHED
    assert awaiting_credit_note(p.report, p.decisions) == []
    [second] = p.pay_all()
    assert second.lines == [1] and second.credit_references == ["CN-1"]
    assert second.amount == D("119.00") and second.key == "INV-1:1"
    assert p.due() == [] and p.outstanding() == []


def test_the_latest_decision_on_a_line_wins() -> None:
    p = Purchase()
    p.receipts.append(receipt("G-1", (1, "10")))
    p.invoices.append(invoice_for(REQ, "INV-1", (1, "12", "10.00")))
    p.decisions += [decide(2, [1], []), decide(1, [], [1])]  # round 2 came later
    assert [d.lines for d in p.due()] == [[1]]
    p.decisions.append(decide(3, [], [1]))
    assert p.due() == [] and awaiting_credit_note(p.report, p.decisions) == [1]


def test_a_document_after_the_decision_needs_a_new_one() -> None:
    p = Purchase()
    p.receipts.append(receipt("G-1", (1, "10")))
    p.invoices.append(invoice_for(REQ, "INV-1", (1, "11", "10.00")))
    p.decisions.append(decide(1, [1], [], reviewed_documents(p.report, [1])))
    assert [d.invoice_reference for d in p.due()] == ["INV-1"]
    p.invoices.append(invoice_for(REQ, "INV-2", (1, "5", "10.00")))
    assert undecided_exceptions(p.report, p.decisions) == [1]
    assert p.due() == []  # neither is paid on a decision about something else


def test_a_credit_note_in_full_settles_an_invoice_without_a_payment() -> None:
    p = Purchase()
    p.receipts.append(receipt("G-1", (1, "10")))
    p.invoices.append(invoice_for(REQ, "INV-1", (1, "10", "10.00")))
    p.invoices.append(credit_note("CN-1", "INV-1", (1, "10", "10.00")))
    assert p.report.lines[0].status is MatchStatus.OPEN
    assert p.due() == []
    assert p.outstanding() == [
        "line 1 (product-1): invoiced 0 of 10 received",
        "line 2 (product-2): received 0 of 4",
    ]


def test_an_invoice_in_another_currency_is_paid_in_it_only_when_accepted() -> None:
    p = Purchase()
    p.receipts.append(receipt("G-1", (1, "10")))
    p.invoices.append(invoice_for(REQ, "INV-1", (1, "10", "10.00"), currency="USD"))
    assert p.due() == [] and undecided_exceptions(p.report, []) == [1]
    p.decisions.append(decide(1, [1], [], reviewed_documents(p.report, [1])))
    [due] = p.due()
    assert (due.currency, due.amount) == ("USD", D("119.00"))


def test_the_variance_in_exception_routes_the_review() -> None:
    p = Purchase()
    p.receipts.append(receipt("G-1", (1, "10"), (2, "4")))
    p.invoices.append(invoice_for(REQ, "INV-1", (1, "12", "10.00"), (2, "4", "3.00")))
    report = p.report
    assert exception_variance(report) == D("22.00")
    assert exception_variance(report, [2]) == D("2.00")


# Properties: random purchases, documents in random order, paying whatever is due after each.
QTY = st.integers(min_value=1, max_value=12).map(D)
SOME = st.integers(min_value=1, max_value=6).map(D)
PRICE = st.integers(min_value=50, max_value=2_000).map(lambda n: D(n) / 100)


@st.composite
def purchases(draw: st.DrawFn) -> Requisition:
    count = draw(st.integers(1, 3))
    return requisition(
        *(
            line(
                n,
                str(draw(QTY)),
                str(draw(PRICE)),
                tax_rate=draw(st.sampled_from(["0", "0.07", "0.19"])),
            )
            for n in range(1, count + 1)
        )
    )


def near(data: st.DataObject, value: Decimal, spread: int) -> Decimal:
    """`value` moved by up to `spread` % either way, in cents."""
    pct = data.draw(st.integers(-spread, spread))
    return max((value * (100 + pct) / 100).quantize(D("0.01")), D("0.01"))


def events(data: st.DataObject, req: Requisition, credit_notes: bool) -> list[object]:
    """Receipts and invoices (and credit notes) for the requisition, shuffled."""
    found: list[object] = []
    for ln in req.lines:
        for i in range(data.draw(st.integers(1, 2))):
            found.append(receipt(f"G-{ln.line_no}-{i}", (ln.line_no, str(data.draw(QTY)))))
    for i in range(data.draw(st.integers(1, 4))):
        prices = {ln.line_no: ln.expected_price for ln in req.lines}
        chosen = data.draw(st.lists(st.sampled_from(sorted(prices)), min_size=1, unique=True))
        # Invoices smaller than receipts on average: some match, some do not.
        rows = [(n, str(data.draw(SOME)), str(near(data, prices[n], 3))) for n in chosen]
        found.append(invoice_for(req, f"INV-{i}", *rows))
        if credit_notes and data.draw(st.booleans()):
            credited = rows[: data.draw(st.integers(1, len(rows)))]
            found.append(
                invoice_for(
                    req,
                    f"CN-{i}",
                    *((n, str(D(q) / 2), price) for n, q, price in credited),
                    kind=DocumentKind.CREDIT_NOTE,
                    credits=f"INV-{i}",
                )
            )
    return data.draw(st.permutations(found))


def add(p: Purchase, event: object) -> None:
    if isinstance(event, GoodsReceipt):
        p.receipts.append(event)
    else:
        assert isinstance(event, SupplierInvoice)
        p.invoices.append(event)


def paid_lines(p: Purchase) -> Counter[tuple[str, int]]:
    return Counter((pay.invoice_reference, n) for pay in p.paid for n in pay.lines)


@settings(max_examples=80, deadline=None)
@given(req=purchases(), data=st.data())
def test_never_a_line_of_an_invoice_paid_twice_nor_one_in_exception_undecided_or_rejected(
    req: Requisition, data: st.DataObject
) -> None:
    p = Purchase(req)
    for doc in events(data, req, credit_notes=True):
        add(p, doc)
        p.pay_all()
        if data.draw(st.booleans()):
            # A person accepts some of the exceptions undecided so far, rejects the rest.
            open_lines = undecided_exceptions(p.report, p.decisions)
            accepted = (
                data.draw(st.lists(st.sampled_from(open_lines), unique=True)) if open_lines else []
            )
            p.decisions.append(
                decide(
                    len(p.decisions) + 1,
                    accepted,
                    [n for n in open_lines if n not in accepted],
                    reviewed_documents(p.report, open_lines),
                )
            )
        undecided = set(undecided_exceptions(p.report, p.decisions))
        rejected = set(awaiting_credit_note(p.report, p.decisions))
        for due in p.pay_all():
            assert not (undecided | rejected) & set(due.lines), (due, undecided, rejected)
        assert p.due() == []  # asking again at once finds nothing more
        assert all(count == 1 for count in paid_lines(p).values()), paid_lines(p)
    assert all(pay.amount > 0 for pay in p.paid)
    event(f"payments: {min(len(p.paid), 3)}")


@settings(max_examples=80, deadline=None)
@given(req=purchases(), data=st.data())
def test_without_acceptances_nothing_is_paid_beyond_the_received_within_tolerance(
    req: Requisition, data: st.DataObject
) -> None:
    p = Purchase(req)
    for doc in events(data, req, credit_notes=False):
        add(p, doc)
        p.pay_all()
    paid_net: dict[int, Decimal] = defaultdict(Decimal)
    billed = {
        (doc.reference, il.line_no): il.quantity * il.unit_price
        for doc in p.invoices
        for il in doc.lines
    }
    for pay in p.paid:
        for n in pay.lines:
            paid_net[n] += billed.get((pay.invoice_reference, n), D(0))
    report = p.report
    event(f"payments: {min(len(p.paid), 3)}")
    tol = TOL.default
    assert tol.amount_cap is not None
    for ln, m in zip(req.lines, report.lines, strict=True):
        price_limit = ln.expected_price * (1 + tol.price_pct / 100)
        most = m.received * (1 + tol.quantity_pct / 100) * price_limit
        assert paid_net[ln.line_no] <= most
        assert paid_net[ln.line_no] <= m.received * ln.expected_price + tol.amount_cap + D("0.005")
        # And never more than was invoiced.
        assert paid_net[ln.line_no] <= sum(
            (v for (_, n), v in billed.items() if n == ln.line_no), D(0)
        )


@settings(max_examples=80, deadline=None)
@given(req=purchases(), data=st.data())
def test_accepting_a_part_pays_only_the_accepted_lines(
    req: Requisition, data: st.DataObject
) -> None:
    p = Purchase(req)
    p.receipts.append(receipt("G-1", *((ln.line_no, str(ln.quantity)) for ln in req.lines)))
    rows = [
        (ln.line_no, str(ln.quantity + data.draw(st.sampled_from([0, 5]))), str(ln.expected_price))
        for ln in req.lines
    ]
    p.invoices.append(invoice_for(req, "INV-1", *rows))
    in_exception = undecided_exceptions(p.report, [])
    accepted = (
        data.draw(st.lists(st.sampled_from(in_exception), unique=True)) if in_exception else []
    )
    rejected = [n for n in in_exception if n not in accepted]
    p.decisions.append(decide(1, accepted, rejected, reviewed_documents(p.report, in_exception)))
    paid = {n for due in p.pay_all() for n in due.lines}
    assert paid == {ln.line_no for ln in req.lines} - set(rejected)
    assert awaiting_credit_note(p.report, p.decisions) == rejected
    for n in rejected:
        assert any(f"line {n} " in why and "credit note" in why for why in p.outstanding())


@settings(max_examples=60, deadline=None)
@given(
    prices=st.lists(
        st.decimals(min_value=D("0.01"), max_value=D("99.99"), places=3), min_size=3, max_size=3
    ),
    quantities=st.lists(st.integers(min_value=1, max_value=9), min_size=3, max_size=3),
    rates=st.lists(st.sampled_from(["0", "0.07", "0.19"]), min_size=3, max_size=3),
)
def test_an_invoice_paid_line_by_line_never_adds_up_to_more_than_its_gross(
    prices: list[Decimal], quantities: list[int], rates: list[str]
) -> None:
    # The ERP refuses a payment that takes an invoice's payments a cent over its printed gross.
    req = requisition(
        *(
            line(n, str(q), str(p), tax_rate=r)
            for n, (q, p, r) in enumerate(zip(quantities, prices, rates, strict=True), 1)
        )
    )
    inv = invoice_for(
        req,
        "INV-9",
        *((n, str(q), str(p)) for n, (q, p) in enumerate(zip(quantities, prices, strict=True), 1)),
    )
    paid: list[SupplierPayment] = []
    receipts: list[GoodsReceipt] = []
    for n, q in enumerate(quantities, 1):
        receipts.append(receipt(f"GR-{n}", (n, str(q))))
        report = three_way_match(req, receipts, [inv], TOL)
        waiting = [m.line_no for m in report.exceptions]
        decisions = [decide(n, [], waiting, reviewed_documents(report, waiting))] if waiting else []
        for due in payments_due(req, [inv], report, decisions, paid):
            paid.append(pay(due, len(paid) + 1))
    assert {n for p in paid for n in p.lines} == {1, 2, 3}
    assert sum(p.amount for p in paid) <= round_money(inv.gross, inv.currency)
