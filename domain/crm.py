"""What the business asks of a CRM; the reference CRM and HubSpot share the CRM v3 shape."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Protocol

from pydantic import BaseModel


class DealStage(StrEnum):
    """HubSpot's default sales pipeline stages that order-to-cash uses."""

    CONTRACT_SENT = "contractsent"
    CLOSED_WON = "closedwon"
    CLOSED_LOST = "closedlost"


class CrmContact(BaseModel):
    customer_id: str
    email: str
    name: str
    company: str | None = None


class CrmDeal(BaseModel):
    order_id: str
    customer_id: str
    name: str
    amount: Decimal
    currency: str
    stage: DealStage
    close_date: date | None = None


class CrmRecord(BaseModel):
    id: str
    properties: dict[str, str | None]
    created_at: datetime
    updated_at: datetime


class CrmUpsert(BaseModel):
    """One record for a batch upsert: `id` is the value of the unique `id_property`."""

    id: str
    properties: dict[str, str | None]


class CrmPort(Protocol):
    """Raises `domain.errors.IntegrationError` subclasses; never retries by itself.

    Upserts are keyed by a unique business property (customer_id, order_id), which makes
    them idempotent: the same upsert twice leaves one record.
    """

    async def upsert_contact(self, contact: CrmContact) -> CrmRecord: ...

    async def upsert_deal(self, deal: CrmDeal) -> CrmRecord: ...

    async def associate_deal_contact(self, deal_id: str, contact_id: str) -> None: ...

    # None when no deal exists for the order (nothing to mark).
    async def set_deal_stage(self, order_id: str, stage: DealStage) -> CrmRecord | None: ...

    async def find_deal(self, order_id: str) -> CrmRecord | None: ...

    async def batch_upsert(
        self, object_type: str, id_property: str, records: list[CrmUpsert]
    ) -> list[CrmRecord]: ...

    # The records found by their unique `id_property` values (missing ones are left out).
    async def batch_read(
        self, object_type: str, id_property: str, ids: list[str], properties: list[str]
    ) -> list[CrmRecord]: ...

    # How many records match all filters ({"propertyName", "operator", "value", ...}).
    async def count(self, object_type: str, filters: Sequence[Mapping[str, str]] = ()) -> int: ...

    async def aclose(self) -> None: ...
