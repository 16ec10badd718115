"""The pure rules an order must pass before anything is written anywhere."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from domain.orders.models import OrderLine
from domain.orders.rules import describe, validate_order
from tests import samples


def fields(order_changes: dict[str, object]) -> list[str]:
    return [v.field for v in validate_order(samples.order(**order_changes))]  # type: ignore[arg-type]


def test_a_good_order_passes() -> None:
    assert validate_order(samples.order()) == []


def test_each_problem_names_its_field() -> None:
    bad = samples.order(
        order_id="has space",
        currency="ZZZ",
        lines=[
            OrderLine(sku="A", quantity=0, unit_price=Decimal("1.00")),
            OrderLine(sku="A", quantity=1, unit_price=Decimal("-1")),
            OrderLine(sku="B", quantity=1, unit_price=Decimal("1.001")),
        ],
    )
    found = {v.field: v.problem for v in validate_order(bad)}
    assert set(found) == {
        "order_id",
        "currency",
        "lines[0].quantity",
        "lines[1].sku",
        "lines[1].unit_price",
        "lines[2].unit_price",
    }
    assert "appears twice" in found["lines[1].sku"]
    assert "'ZZZ'" in found["currency"]


def test_empty_lines_bad_email_and_country() -> None:
    order = samples.order(lines=[])
    customer = order.customer.model_copy(update={"email": "not-an-email"})
    address = order.shipping_address.model_copy(update={"country": "Germany", "city": " "})
    problems = validate_order(
        order.model_copy(update={"customer": customer, "shipping_address": address})
    )
    assert {v.field for v in problems} == {
        "lines",
        "customer.email",
        "shipping_address.country",
        "shipping_address.city",
    }
    assert "lines: an order needs at least one line" in describe(problems)


def test_a_free_order_is_refused() -> None:
    assert fields({"unit_price": "0.00"}) == ["lines"]


@given(
    quantity=st.integers(min_value=-5, max_value=20_000),
    cents=st.integers(min_value=-1000, max_value=10**7),
)
def test_quantity_and_price_rules_hold_for_any_values(quantity: int, cents: int) -> None:
    price = Decimal(cents) / 100
    order = samples.order(order_id="P-1").model_copy(
        update={"lines": [OrderLine(sku="SKU-001", quantity=quantity, unit_price=price)]}
    )
    found = {v.field for v in validate_order(order)}
    assert ("lines[0].quantity" in found) == (not 0 < quantity <= 10_000)
    assert ("lines[0].unit_price" in found) == (price < 0)
    valid_line = 0 < quantity <= 10_000 and price >= 0
    assert (found == set()) == (valid_line and price * quantity > 0)


def test_a_card_order_needs_its_card_token() -> None:
    assert fields({"reference": None}) == ["payment_reference"]
    assert fields({"reference": " "}) == ["payment_reference"]
