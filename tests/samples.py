"""Orders for tests; customers and SKUs match the reference ERP's demo seed."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from domain.orders.models import Address, Customer, Order, OrderLine, PaymentMethod


def order(
    *,
    order_id: str | None = None,
    customer_id: str = "C-100",
    quantity: int = 2,
    unit_price: str = "49.90",
    sku: str = "SKU-001",
    reference: str | None = "tok_visa",
    **changes: Any,
) -> Order:
    base = Order(
        order_id=order_id or f"T-{uuid.uuid4().hex[:10]}",
        customer=Customer(
            customer_id=customer_id,
            name="Ada Lovelace",
            email=f"{customer_id.lower()}@example.com",
            company="ACME",
        ),
        lines=[OrderLine(sku=sku, quantity=quantity, unit_price=Decimal(unit_price))],
        currency="EUR",
        shipping_address=Address(
            name="Ada Lovelace",
            street="1 Main St",
            city="Berlin",
            postal_code="10115",
            country="DE",
        ),
        payment_method=PaymentMethod.CARD,
        payment_reference=reference,
    )
    return base.model_copy(update=changes)
