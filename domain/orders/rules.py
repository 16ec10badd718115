"""Pure rules an order must satisfy before anything is written anywhere."""

from __future__ import annotations

import re
from decimal import Decimal

from pydantic import BaseModel

from domain.orders.models import Order, PaymentMethod

# Currencies the business sells in; an order in any other is refused up front.
SUPPORTED_CURRENCIES = frozenset({"EUR", "USD", "GBP", "CHF"})
MAX_LINES = 200
MAX_QUANTITY = 10_000
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_COUNTRY = re.compile(r"^[A-Z]{2}$")
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")


class Violation(BaseModel):
    field: str
    problem: str

    def __str__(self) -> str:
        return f"{self.field}: {self.problem}"


def validate_order(order: Order) -> list[Violation]:
    """Every problem with the order, each naming its field; empty when the order is valid."""
    found: list[Violation] = []

    def bad(field: str, problem: str) -> None:
        found.append(Violation(field=field, problem=problem))

    if not _ID.match(order.order_id):
        bad("order_id", "must be 1-64 letters, digits or . _ : - and start with a letter or digit")
    if not _ID.match(order.customer.customer_id):
        bad("customer.customer_id", "must be 1-64 letters, digits or . _ : -")
    if not order.customer.name.strip():
        bad("customer.name", "must not be empty")
    if not _EMAIL.match(order.customer.email):
        bad("customer.email", f"{order.customer.email!r} is not an e-mail address")
    if order.currency not in SUPPORTED_CURRENCIES:
        bad("currency", f"{order.currency!r} is not one of {sorted(SUPPORTED_CURRENCIES)}")
    if not order.lines:
        bad("lines", "an order needs at least one line")
    if len(order.lines) > MAX_LINES:
        bad("lines", f"at most {MAX_LINES} lines per order")
    seen: set[str] = set()
    for i, line in enumerate(order.lines):
        where = f"lines[{i}]"
        if not line.sku.strip():
            bad(f"{where}.sku", "must not be empty")
        elif line.sku in seen:
            bad(f"{where}.sku", f"{line.sku!r} appears twice; merge the lines")
        seen.add(line.sku)
        if not 0 < line.quantity <= MAX_QUANTITY:
            bad(f"{where}.quantity", f"must be between 1 and {MAX_QUANTITY}, got {line.quantity}")
        if line.unit_price < 0:
            bad(f"{where}.unit_price", f"must not be negative, got {line.unit_price}")
        elif line.unit_price != line.unit_price.quantize(Decimal("0.01")):
            bad(f"{where}.unit_price", "at most two decimal places")
    address = order.shipping_address
    for name in ("name", "street", "city", "postal_code"):
        if not getattr(address, name).strip():
            bad(f"shipping_address.{name}", "must not be empty")
    if not _COUNTRY.match(address.country):
        bad("shipping_address.country", f"{address.country!r} is not an ISO country code like DE")
    if order.payment_method is PaymentMethod.CARD and not (order.payment_reference or "").strip():
        bad("payment_reference", "a card payment needs the card token")
    if order.lines and order.total <= 0:
        bad("lines", "the order total must be above zero")
    return found


def describe(violations: list[Violation]) -> str:
    return "; ".join(str(v) for v in violations)
