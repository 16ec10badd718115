"""The rules a requisition, a goods receipt and a supplier invoice must pass before the purchase
records them, and how a duplicate invoice is recognised."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from domain.purchasing.models import DocumentKind, RequisitionLine
from domain.purchasing.rules import (
    Violation,
    describe,
    duplicate_problem,
    invoice_problem,
    receipt_problem,
    validate_requisition,
)
from tests.purchasing_samples import (
    credit_note,
    invoice,
    line,
    receipt,
    requisition,
    returned,
)

REQ = requisition(
    line(1, "10", "10.00", conversions={"box": "12"}),
    line(2, "4", "2.50"),
)


def test_a_good_requisition_passes() -> None:
    assert validate_requisition(REQ) == []


def test_each_problem_with_a_requisition_names_its_field() -> None:
    bad = requisition(
        RequisitionLine(
            line_no=1,
            product=" ",
            quantity=Decimal(0),
            expected_price=Decimal("-1"),
            tax_rate=Decimal("1.5"),
            conversions={"box": Decimal(0)},
        ),
        line(1),
        line(0),
        requisition_id="has space",
        supplier_id="",
        requested_by=" ",
        cost_centre="",
        currency="euro",
    )
    found = {v.field: v.message for v in validate_requisition(bad)}
    assert set(found) == {
        "requisition_id",
        "supplier_id",
        "requested_by",
        "cost_centre",
        "currency",
        "lines[0].product",
        "lines[0].quantity",
        "lines[0].expected_price",
        "lines[0].tax_rate",
        "lines[0].conversions.box",
        "lines[1].line_no",
        "lines[2].line_no",
    }
    assert found["lines[1].line_no"] == "1 appears twice; documents refer to it"
    assert found["currency"] == "'euro' is not an ISO 4217 code like EUR"
    assert found["lines[0].tax_rate"] == "must be between 0 and 1 (0.19 is 19 %), got 1.5"


def test_a_requisition_needs_a_line_and_describe_joins_the_problems() -> None:
    found = validate_requisition(requisition(lines=[]))
    assert found == [Violation(field="lines", message="a requisition needs at least one line")]
    two = [Violation(field="a", message="x"), Violation(field="b", message="y")]
    assert describe(two) == "a: x; b: y"


def test_a_receipt_for_known_lines_passes_and_the_same_receipt_again_is_a_repeat() -> None:
    first = receipt("G-1", (1, "6"), (2, "4"))
    assert receipt_problem(first, REQ, []) is None
    # The warehouse sends it again, lines in another order and at another time: a repeat.
    again = receipt("G-1", (2, "4"), (1, "6")).model_copy(
        update={"received_at": datetime(2026, 3, 3)}
    )
    assert receipt_problem(again, REQ, [first]) is None


def test_a_wrong_receipt_is_refused_with_the_reason() -> None:
    first = receipt("G-1", (1, "6"))
    cases = {
        "receipt G-2 is for requisition R-9, not R-1": receipt("G-2", (1, "1"), rid="R-9"),
        "receipt G-2: line 7 is not on the requisition": receipt("G-2", (7, "1")),
        "receipt G-2: line 1 quantity must be above zero, got 0 (a return is a document of "
        "kind return)": receipt("G-2", (1, "0")),
        "receipt G-1 was already recorded with other content": receipt("G-1", (1, "5")),
        "receipt G-2 has no lines": receipt("G-2"),
    }
    for reason, bad in cases.items():
        assert receipt_problem(bad, REQ, [first]) == reason


def test_a_return_may_not_exceed_what_was_received_so_far_in_any_unit() -> None:
    earlier = [receipt("G-1", (1, "1", "box")), returned("G-2", (1, "4"))]  # 12 in, 4 back
    assert receipt_problem(returned("G-3", (1, "8")), REQ, earlier) is None
    assert (
        receipt_problem(returned("G-3", (1, "9")), REQ, earlier)
        == "return G-3: line 1 returns 9 unit but only 8 unit were received"
    )
    assert receipt_problem(returned("G-3", (2, "1")), REQ, earlier) == (
        "return G-3: line 2 returns 1 unit but only 0 unit were received"
    )
    # A unit the line does not convert cannot be checked here: the match reports it.
    assert receipt_problem(returned("G-3", (1, "1", "pallet")), REQ, earlier) is None


def test_a_good_invoice_and_credit_note_pass() -> None:
    assert invoice_problem(invoice("INV-1", (1, "10", "10.00")), REQ) is None
    assert invoice_problem(credit_note("CN-1", "INV-1", (1, "2", "10.00")), REQ) is None
    # Another currency is the match's business (an exception), not a refusal.
    assert invoice_problem(invoice("INV-2", (1, "1", "9"), currency="USD"), REQ) is None


def test_a_wrong_invoice_is_refused_with_the_reason() -> None:
    cases = {
        "invoice INV-1 is for requisition R-9, not R-1": invoice("INV-1", (1, "1", "1"), rid="R-9"),
        "invoice INV-1 is from supplier S-9, not S-1": invoice(
            "INV-1", (1, "1", "1"), supplier_id="S-9"
        ),
        "invoice INV-1: line 7 is not on the requisition": invoice("INV-1", (7, "1", "1")),
        "invoice INV-1: line 1 quantity must be above zero, got -1 (a credit note's figures are "
        "positive too)": invoice("INV-1", (1, "-1", "1")),
        "invoice INV-1: line 1 unit_price must not be negative": invoice("INV-1", (1, "1", "-1")),
        "invoice INV-1 is due on 2026-03-01, before it was issued (2026-03-02)": invoice(
            "INV-1", (1, "1", "1"), due_on=date(2026, 3, 1)
        ),
        "the invoice has no reference (the supplier's number)": invoice(" - ", (1, "1", "1")),
        "invoice INV-1 has no lines": invoice("INV-1"),
        "invoice INV-1: tax must not be negative (a credit note's figures are positive)": invoice(
            "INV-1", (1, "1", "1"), tax="-1"
        ),
        "credit note CN-1 does not say which invoice it credits (credits_reference)": invoice(
            "CN-1", (1, "1", "1"), kind=DocumentKind.CREDIT_NOTE
        ),
        "invoice INV-1 names credits_reference, which only a credit note may": invoice(
            "INV-1", (1, "1", "1"), credits="INV-0"
        ),
    }
    for reason, bad in cases.items():
        assert invoice_problem(bad, REQ) == reason


def test_the_same_reference_and_amount_is_a_duplicate_whatever_its_spelling() -> None:
    first = invoice("INV-2026-001", (1, "10", "10.00"))
    again = invoice("inv 2026 001", (1, "10", "10.00"), issued_on=date(2026, 3, 9))
    assert duplicate_problem(again, [first]) == (
        "duplicate of INV-2026-001: same supplier, reference and amount 119.00 EUR"
    )
    assert duplicate_problem(first, [first]) is not None  # the very same invoice again


def test_the_same_reference_with_another_amount_conflicts() -> None:
    first = invoice("INV-1", (1, "10", "10.00"))
    other = invoice("INV1", (1, "5", "10.00"))
    assert duplicate_problem(other, [first]) == (
        "reference INV1 conflicts with INV-1, already taken with amount 119.00 EUR "
        "(this one: 59.50 EUR)"
    )


def test_the_same_content_under_another_reference_is_a_duplicate() -> None:
    first = invoice("INV-1", (1, "10", "10.00"), (2, "4", "2.50"))
    renumbered = invoice("INV-77", (2, "4", "2.50"), (1, "10", "10.00"))
    assert duplicate_problem(renumbered, [first]) == (
        "duplicate of INV-1: same supplier, date, lines and tax under another reference (INV-77)"
    )


def test_genuinely_new_invoices_are_no_duplicates() -> None:
    first = invoice("INV-1", (1, "5", "10.00"))
    assert (
        duplicate_problem(invoice("INV-2", (1, "5", "10.00"), due_on=date(2026, 5, 1)), []) is None
    )
    # Another supplier's INV-1, a second delivery's invoice, a credit note with the same figures.
    assert (
        duplicate_problem(invoice("INV-1", (1, "5", "10.00"), supplier_id="S-2"), [first]) is None
    )
    later = invoice("INV-2", (1, "5", "10.00"), issued_on=date(2026, 3, 20))
    assert duplicate_problem(later, [first]) is None
    assert duplicate_problem(credit_note("CN-1", "INV-1", (1, "5", "10.00")), [first]) is None


_REF = st.from_regex(r"[A-Z]{2,4}-?[0-9]{1,6}", fullmatch=True)


@settings(max_examples=60, deadline=None)
@given(ref=_REF, case=st.sampled_from([str.lower, str.upper, str.title]), spaces=st.booleans())
def test_case_spaces_and_dashes_never_make_a_new_reference(
    ref: str, case: Callable[[str], str], spaces: bool
) -> None:
    first = invoice(ref, (1, "3", "10.00"))
    spelled = case(ref).replace("-", " - " if spaces else "–")
    assert duplicate_problem(invoice(spelled, (1, "3", "10.00")), [first]) is not None
    assert duplicate_problem(invoice(spelled + "X", (1, "4", "10.00")), [first]) is None
