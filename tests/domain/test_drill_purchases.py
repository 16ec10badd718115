"""The drill's judge of procure-to-pay, on made-up facts: paid beyond received ± tolerance (at
the moment of each payment), an invoice posted or paid twice, an exception nobody decides, and
each kind's expected outcome."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from continuum.settings import get_settings
from domain.drill import FaultKind, FaultWindow, Invariant, build_report
from domain.drill_invariants import PURCHASE_INVARIANTS
from domain.drill_purchases import (
    PaymentRecord,
    PostedInvoice,
    PurchaseFacts,
    PurchaseKind,
    RecordedReceipt,
    check_purchases,
    paid_beyond_received,
    paid_twice,
    unexpected,
    unhandled_exceptions,
)
from domain.purchasing.matching import three_way_match
from domain.purchasing.models import (
    ExceptionDecision,
    GoodsReceipt,
    InvoiceLine,
    PurchaseResult,
    PurchaseStatus,
    ReceiptLine,
    RefusedDocument,
    Requisition,
    RequisitionLine,
    Supplier,
    SupplierInvoice,
    Tolerance,
)
from domain.purchasing.policy import TolerancePolicy, exception_plan, purchase_approval_plan
from domain.purchasing.rules import duplicate_problem
from domain.purchasing.settlement import exception_variance
from starters.drill.purchases import CYCLE, drill_purchases

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
D = Decimal
# 2 % on quantity and price, at most 50 of amount variance: the shipped default.
TOLERANCES = TolerancePolicy(
    default=Tolerance(
        quantity_pct=D(2), price_pct=D(2), price_abs=D(0), amount_cap=D(50), tax_abs=D("0.05")
    )
)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def req(rid: str = "R-1", quantity: str = "10", price: str = "20.00") -> Requisition:
    return Requisition(
        requisition_id=rid,
        requested_by="rita",
        supplier_id="SUP-100",
        cost_centre="CC-1",
        currency="EUR",
        lines=[
            RequisitionLine(
                line_no=1,
                product="P",
                quantity=D(quantity),
                expected_price=D(price),
                tax_rate=D("0.19"),
            )
        ],
    )


def receipt(
    quantity: str, when: float, rid: str = "R-1", receipt_id: str = "GR-1"
) -> RecordedReceipt:
    goods = GoodsReceipt(
        requisition_id=rid,
        receipt_id=receipt_id,
        lines=[ReceiptLine(line_no=1, quantity=D(quantity))],
    )
    return RecordedReceipt(receipt=goods, at=at(when))


def posted(
    quantity: str = "10",
    price: str = "20.00",
    reference: str = "INV-1",
    erp_id: str = "SINV-1",
    when: float = 1,
) -> PostedInvoice:
    net = D(quantity) * D(price)
    invoice = SupplierInvoice(
        requisition_id="R-1",
        supplier_id="SUP-100",
        reference=reference,
        currency="EUR",
        issued_on=date(2026, 1, 5),
        due_on=date(2026, 1, 5),
        lines=[InvoiceLine(line_no=1, quantity=D(quantity), unit_price=D(price))],
        tax=(net * D("0.19")).quantize(D("0.01")),
    )
    return PostedInvoice(erp_invoice_id=erp_id, invoice=invoice, at=at(when))


def payment(
    amount: str = "238.00", when: float = 3, erp_id: str = "SINV-1", pid: str = "SPAY-1"
) -> PaymentRecord:
    return PaymentRecord(
        payment_id=pid, erp_invoice_id=erp_id, lines=[1], amount=D(amount), at=at(when)
    )


def completed(kind: PurchaseKind = PurchaseKind.MATCHED, **changes: object) -> PurchaseFacts:
    """A purchase received in full, invoiced at the order price and paid once, as the ERP and
    Temporal would hold it."""
    requisition = req()
    invoices = [posted()]
    receipts = [receipt("10", 0)]
    match = three_way_match(
        requisition, [r.receipt for r in receipts], [i.invoice for i in invoices], TOLERANCES
    )
    result = PurchaseResult(
        requisition_id="R-1",
        status=PurchaseStatus.COMPLETED,
        supplier_id="SUP-100",
        currency="EUR",
        total=requisition.total,
        match=match,
    )
    facts = PurchaseFacts(
        requisition=requisition,
        kind=kind,
        tolerances=TOLERANCES,
        status=PurchaseStatus.COMPLETED,
        result=result,
        purchase_orders=1,
        receipts=receipts,
        invoices=invoices,
        payments=[payment()],
    )
    return facts.model_copy(update=changes)


def in_exception(waiting_on: str | None = "buyer", **changes: object) -> PurchaseFacts:
    """Invoiced 10 % over the order price, a review waiting on `waiting_on`, nothing paid."""
    requisition = req()
    invoices = [posted(price="22.00")]
    receipts = [receipt("10", 0)]
    match = three_way_match(
        requisition, [r.receipt for r in receipts], [i.invoice for i in invoices], TOLERANCES
    )
    assert match.exceptions  # 10 % over a 2 % tolerance
    result = PurchaseResult(
        requisition_id="R-1",
        status=PurchaseStatus.IN_EXCEPTION,
        supplier_id="SUP-100",
        currency="EUR",
        total=requisition.total,
        match=match,
        pending_review="approval-purchase-R-1-exception-1",
    )
    facts = PurchaseFacts(
        requisition=requisition,
        kind=PurchaseKind.EXCEPTION,
        tolerances=TOLERANCES,
        status=PurchaseStatus.IN_EXCEPTION,
        running=True,
        result=result,
        waiting_on=waiting_on,
        purchase_orders=1,
        receipts=receipts,
        invoices=invoices,
    )
    return facts.model_copy(update=changes)


def broken(*facts: PurchaseFacts) -> set[Invariant]:
    return {v.invariant for v in check_purchases(facts).violations}


def test_a_purchase_paid_as_received_and_one_waiting_on_a_buyer_break_nothing() -> None:
    check = check_purchases([completed(), in_exception()])
    assert check.violations == []
    assert (check.as_expected, check.success_rate) == (2, 1.0)
    assert (check.payments, check.paid, check.exceptions, check.waiting) == (1, D("238.00"), 1, 1)
    assert check.erp_records == {
        "purchase_orders": 2,
        "goods_receipts": 2,
        "supplier_invoices": 2,
        "supplier_payments": 1,
    }


def test_a_payment_made_before_the_goods_arrived_is_paid_beyond_received() -> None:
    # The receipt was recorded after the payment: at the moment of paying, nothing was in.
    early = completed(receipts=[receipt("10", 5)], payments=[payment(when=3)])
    problems, _ = paid_beyond_received(early)
    assert problems == ["line 1: 10 unit paid by SPAY-1, 0 received by then (tolerance 2 %)"]
    assert broken(early) == {Invariant.PAID_WITHIN_RECEIVED}


def test_paying_more_than_received_is_a_breach_beyond_the_quantity_tolerance_only() -> None:
    # 10 invoiced and paid against 9.9 received: 1 % over, inside the 2 %.
    assert paid_beyond_received(completed(receipts=[receipt("9.9", 0)])) == ([], 0)
    # Against 9 received: 11 % over.
    problems, _ = paid_beyond_received(completed(receipts=[receipt("9", 0)]))
    assert problems == ["line 1: 10 unit paid by SPAY-1, 9 received by then (tolerance 2 %)"]


def test_a_dearer_price_is_paid_within_the_price_tolerance_and_not_beyond() -> None:
    within = completed(invoices=[posted(price="20.40")])  # +2 %
    assert paid_beyond_received(within) == ([], 0)
    beyond = completed(invoices=[posted(price="20.50")])  # +2.5 %
    problems, _ = paid_beyond_received(beyond)
    assert problems == [
        "line 1: 205.00 EUR net paid by SPAY-1 for 10 unit, at most 204.00 EUR at the order "
        "price 20 within tolerance"
    ]


def test_the_amount_cap_bounds_a_line_even_within_the_percentages() -> None:
    # 1000 units at 20.00 + 1 %: within 2 %, but 200 of variance against a cap of 50.
    big = completed(
        requisition=req(quantity="1000"),
        receipts=[receipt("1000", 0)],
        invoices=[posted(quantity="1000", price="20.20")],
    )
    problems, _ = paid_beyond_received(big)
    assert problems == [
        "line 1: 20200.00 EUR net paid by SPAY-1, 200.00 EUR over the 1000 unit received by "
        "then at the order price (cap 50)"
    ]


def test_a_line_a_person_accepted_is_counted_not_judged() -> None:
    decided = completed(
        kind=PurchaseKind.DECIDED,
        invoices=[posted(price="22.00")],
    )
    assert decided.result is not None
    decided.result.decisions.append(
        ExceptionDecision(
            round_no=1,
            decided_by="bruno",
            accepted_lines=[1],
            rejected_lines=[],
            at=at(2),
            variance=D("20.00"),
        )
    )
    assert paid_beyond_received(decided) == ([], 1)
    check = check_purchases([decided])
    assert check.violations == [] and check.accepted_beyond_tolerance == 1 and check.decided == 1
    # The deadline's acceptance is not a person's: judged.
    assert decided.result is not None
    decided.result.decisions[0] = decided.result.decisions[0].model_copy(
        update={"decided_by": None}
    )
    assert Invariant.PAID_WITHIN_RECEIVED in broken(decided)


def test_an_invoice_posted_twice_or_a_line_paid_twice_or_beyond_its_gross_is_caught() -> None:
    retyped = posted(reference="inv 1", erp_id="SINV-2", when=2)
    twice_posted = completed(invoices=[posted(), retyped])
    assert paid_twice(twice_posted) == ["invoice INV-1 posted 2 times (SINV-1, SINV-2)"]

    twice_paid = completed(
        invoices=[posted(), retyped],
        payments=[payment(), payment(erp_id="SINV-2", pid="SPAY-2", when=4)],
    )
    assert paid_twice(twice_paid) == [
        "invoice INV-1 posted 2 times (SINV-1, SINV-2)",
        "invoice inv1 line 1 paid 2 times",
        "invoice INV-1 paid 476.00 EUR, more than its gross 238.00",
    ]
    assert Invariant.NO_INVOICE_PAID_TWICE in broken(twice_paid)
    over = completed(payments=[payment(amount="238.01")])
    assert paid_twice(over) == ["invoice INV-1 paid 238.01 EUR, more than its gross 238.00"]


def test_an_exception_is_handled_when_decided_or_a_person_is_asked() -> None:
    assert unhandled_exceptions(in_exception()) == []
    nobody = in_exception(waiting_on=None)
    assert unhandled_exceptions(nobody) == [1]
    # Waiting on nobody is also not "settled": the purchase is stuck.
    assert broken(nobody) >= {Invariant.EXCEPTIONS_HANDLED, Invariant.PURCHASES_SETTLED}
    closed = in_exception(running=False, status=PurchaseStatus.COMPLETED)
    assert unhandled_exceptions(closed) == [1]


def test_each_kind_has_its_outcome() -> None:
    assert unexpected(completed()) is None
    assert unexpected(in_exception()) is None
    assert unexpected(in_exception(payments=[payment()])) == (
        "paid while its exception waits on a person"
    )
    assert unexpected(completed(payments=[])) == "completed without a payment"
    assert unexpected(completed(kind=PurchaseKind.DUPLICATE)) == (
        "its duplicate invoice was not refused"
    )
    refused = completed(kind=PurchaseKind.DUPLICATE)
    assert refused.result is not None
    refused.result.refused.append(
        RefusedDocument(reference="inv 1", kind="invoice", reason="duplicate", at=at(2))
    )
    assert unexpected(refused) is None
    assert unexpected(completed(kind=PurchaseKind.DECIDED)) == (
        "paid without a person's acceptance"
    )
    assert unexpected(completed(kind=PurchaseKind.EXCEPTION)) == (
        "Completed (closed), expected InException"
    )
    assert unexpected(completed(status=None)) == "unknown (closed), expected Completed"


def test_one_purchase_off_its_outcome_in_a_handful_fails_the_rate() -> None:
    facts = [completed(), completed(), completed(payments=[])]
    check = check_purchases(facts)
    assert check.success_rate == round(2 / 3, 4)
    assert [v.invariant for v in check.violations] == [Invariant.PURCHASES_AS_EXPECTED]
    assert "R-1: completed without a payment" in check.violations[0].detail


def test_an_unknown_purchase_is_reported_as_such() -> None:
    assert Invariant.PURCHASES_KNOWN in broken(completed(status=None, result=None))


def test_the_report_judges_purchase_invariants_only_when_purchases_ran() -> None:
    faults = [
        FaultWindow(kind=FaultKind.WORKER_KILL, label="kill", began=at(1), ended=at(2), injected=1)
    ]
    without = build_report([], faults, started_at=at(0), finished_at=at(9))
    assert not {r.invariant for r in without.invariants} & PURCHASE_INVARIANTS
    check = check_purchases([completed(receipts=[receipt("10", 5)])])
    report = build_report([], faults, started_at=at(0), finished_at=at(9), purchases=check)
    judged = {r.invariant: r for r in report.invariants}
    assert judged.keys() >= PURCHASE_INVARIANTS
    assert not judged[Invariant.PAID_WITHIN_RECEIVED].held and not report.passed
    assert report.purchases == check


def test_the_drills_purchases_are_what_their_kinds_say() -> None:
    """Under the shipped policy: no approval, and the match each kind is meant to meet."""
    policy = get_settings().purchasing_policy()
    batch = drill_purchases(12, "T")
    assert [p.kind for p in batch] == [*CYCLE, *CYCLE] and set(CYCLE) == set(PurchaseKind)
    for p in batch:
        req = p.requisition
        supplier = Supplier(supplier_id=req.supplier_id, name="S", currency="EUR")
        assert not purchase_approval_plan(req, supplier, policy).required, p.kind
        receipts = [d for d in p.documents if isinstance(d, GoodsReceipt)]
        invoices = [d for d in p.documents if isinstance(d, SupplierInvoice)]
        assert len(receipts) == 1 and len(invoices) == (
            2 if p.kind is PurchaseKind.DUPLICATE else 1
        )
        if p.kind is PurchaseKind.DUPLICATE:
            assert duplicate_problem(invoices[1], invoices[:1])  # the retyped number is refused
            assert p.documents[-1] is receipts[0]  # the goods last: not done before the duplicate
        if p.kind is PurchaseKind.INVOICE_FIRST:
            assert p.documents[0] is invoices[0]
        match = three_way_match(req, receipts, invoices[:1], policy.tolerances)
        statuses = {line.status.value for line in match.lines}
        if p.kind in (PurchaseKind.EXCEPTION, PurchaseKind.DECIDED):
            assert statuses == {"exception"}
            plan = exception_plan(exception_variance(match), policy)
            assert plan.levels[0].role == policy.buyer_role  # bruno's to decide
        else:
            assert match.clean and statuses == (
                {"within_tolerance"} if p.kind is PurchaseKind.TOLERANCE else {"matched"}
            ), p.kind
