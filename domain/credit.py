"""A customer's standing with the business, as the ERP reports it."""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel


class CreditStatus(BaseModel):
    customer_id: str
    credit_limit: Decimal
    # Open orders not yet paid.
    exposure: Decimal
    blocked: bool = False

    @property
    def available(self) -> Decimal:
        return self.credit_limit - self.exposure
