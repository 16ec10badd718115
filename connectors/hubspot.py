"""The CRM connector: HubSpot's CRM v3 objects and v4 associations API over one pooled client.

It talks to HubSpot itself (`https://api.hubapi.com`) and to the reference CRM (`services.crm`)
alike. It never retries: every failure becomes a `domain.errors` exception that says whether a
retry may help, and Temporal decides (429/5xx/timeouts/connection → TransientError).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, time
from decimal import Decimal
from types import TracebackType
from typing import Any
from urllib.parse import quote

import httpx
from pydantic import ValidationError

from connectors.http import pooled_client
from connectors.http_errors import raise_for_response, transport_errors
from domain.crm import CrmContact, CrmDeal, CrmRecord, CrmUpsert, DealStage
from domain.errors import (
    IntegrationError,
    InvalidRequestError,
    NotFoundError,
)

SYSTEM = "crm"
HUBSPOT_URL = "https://api.hubapi.com"
BATCH_LIMIT = 100  # HubSpot's most inputs per batch request
DEAL_PIPELINE = "default"

# What find_deal asks for: everything upsert_deal and the ERP→CRM sync write on a deal.
DEAL_PROPERTIES = (
    "order_id",
    "customer_id",
    "dealname",
    "amount",
    "deal_currency_code",
    "dealstage",
    "pipeline",
    "closedate",
    "order_date",
    "order_status",
)

# Statuses worth another try besides 429 and 5xx: request timeout, HubSpot's 423 "Locked".
# What HubSpot calls a status whose body names no category.
HUBSPOT_CODES = {
    400: "VALIDATION_ERROR",
    401: "INVALID_AUTHENTICATION",
    403: "MISSING_SCOPES",
    404: "OBJECT_NOT_FOUND",
    409: "CONFLICT",
    429: "RATE_LIMITS",
}


class HubSpotCrmClient:
    """`CrmPort` for HubSpot. A client passed in stays the caller's: `aclose()` leaves it open."""

    def __init__(
        self,
        base_url: str = HUBSPOT_URL,
        access_token: str = "",
        *,
        timeout: float = 10.0,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        if not access_token:
            raise ValueError("HubSpotCrmClient needs an access token (a private app token)")
        self._base_url = base_url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {access_token}", "Accept": "application/json"}
        # Connecting gets its own, shorter bound so a dead host fails fast.
        self._timeout = httpx.Timeout(timeout, connect=min(timeout, 5.0))
        self._owns_client = client is None
        self._client = client or pooled_client(self._timeout, max_connections=50)

    async def __aenter__(self) -> HubSpotCrmClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()

    # -- CrmPort ---------------------------------------------------------------------------

    async def upsert_contact(self, contact: CrmContact) -> CrmRecord:
        first, last = split_name(contact.name)
        properties: dict[str, str | None] = {
            "email": contact.email,
            "firstname": first,
            "lastname": last,
            "company": contact.company,
        }
        return _one(
            await self._upsert_chunk(
                "contacts",
                "customer_id",
                [CrmUpsert(id=contact.customer_id, properties=properties)],
            )
        )

    async def upsert_deal(self, deal: CrmDeal) -> CrmRecord:
        properties: dict[str, str | None] = {
            "dealname": deal.name,
            "amount": decimal_text(deal.amount),
            "deal_currency_code": deal.currency,
            "dealstage": deal.stage.value,
            "pipeline": DEAL_PIPELINE,
            "customer_id": deal.customer_id,
        }
        # An unknown close date leaves the one the deal has; HubSpot wants midnight UTC in ms.
        if deal.close_date is not None:
            properties["closedate"] = midnight_utc_ms(deal.close_date)
        return _one(
            await self._upsert_chunk(
                "deals", "order_id", [CrmUpsert(id=deal.order_id, properties=properties)]
            )
        )

    async def associate_deal_contact(self, deal_id: str, contact_id: str) -> None:
        # The default (unlabeled) association; putting it twice changes nothing.
        await self._call(
            "PUT",
            f"/crm/v4/objects/deals/{_segment(deal_id)}/associations/default"
            f"/contacts/{_segment(contact_id)}",
        )

    async def set_deal_stage(self, order_id: str, stage: DealStage) -> CrmRecord | None:
        try:
            data = await self._call(
                "PATCH",
                f"/crm/v3/objects/deals/{_segment(order_id)}",
                params={"idProperty": "order_id"},
                json={"properties": {"dealstage": stage.value}},
            )
        except NotFoundError:
            return None
        return _record(data)

    async def find_deal(self, order_id: str) -> CrmRecord | None:
        try:
            data = await self._call(
                "GET",
                f"/crm/v3/objects/deals/{_segment(order_id)}",
                params={"idProperty": "order_id", "properties": ",".join(DEAL_PROPERTIES)},
            )
        except NotFoundError:
            return None
        return _record(data)

    async def batch_upsert(
        self, object_type: str, id_property: str, records: list[CrmUpsert]
    ) -> list[CrmRecord]:
        """One record per distinct id, in first-seen order; sent in chunks of 100.

        HubSpot refuses a batch that names an id twice, so repeats are merged first (later
        values win). Each chunk is one request: all of it is written or none of it.
        """
        merged: dict[str, dict[str, str | None]] = {}
        for item in records:
            merged.setdefault(item.id, {}).update(item.properties)
        unique = [CrmUpsert(id=key, properties=props) for key, props in merged.items()]
        results: list[CrmRecord] = []
        for start in range(0, len(unique), BATCH_LIMIT):
            chunk = unique[start : start + BATCH_LIMIT]
            results.extend(await self._upsert_chunk(object_type, id_property, chunk))
        return results

    async def batch_read(
        self, object_type: str, id_property: str, ids: list[str], properties: list[str]
    ) -> list[CrmRecord]:
        """The records whose unique `id_property` is one of `ids`, in chunks of 100; ids not
        found are left out (HubSpot answers those with 207 and an error listing them)."""
        unique = list(dict.fromkeys(ids))
        results: list[CrmRecord] = []
        for start in range(0, len(unique), BATCH_LIMIT):
            body = {
                "idProperty": id_property,
                "properties": properties,
                "inputs": [{"id": i} for i in unique[start : start + BATCH_LIMIT]],
            }
            path = f"/crm/v3/objects/{_segment(object_type)}/batch/read"
            data = await self._call("POST", path, json=body)
            if not isinstance(data, Mapping) or not isinstance(data.get("results"), list):
                raise _bad_response("batch read answered without results")
            results.extend(_record(r) for r in data["results"])
        return results

    async def count(self, object_type: str, filters: Sequence[Mapping[str, str]] = ()) -> int:
        """How many records match all `filters` (HubSpot search's `total`; for reports)."""
        body = {
            "filterGroups": [{"filters": list(filters)}] if filters else [],
            "properties": ["hs_object_id"],
            "limit": 1,
        }
        path = f"/crm/v3/objects/{_segment(object_type)}/search"
        data = await self._call("POST", path, json=body)
        if not isinstance(data, Mapping) or not isinstance(data.get("total"), int):
            raise _bad_response("search answered without a total")
        total: int = data["total"]
        return total

    # -- HTTP ------------------------------------------------------------------------------

    async def _upsert_chunk(
        self, object_type: str, id_property: str, chunk: Sequence[CrmUpsert]
    ) -> list[CrmRecord]:
        inputs = [
            {
                "idProperty": id_property,
                "id": item.id,
                # HubSpot clears a property on "", and may refuse a JSON null.
                "properties": {k: ("" if v is None else v) for k, v in item.properties.items()},
            }
            for item in chunk
        ]
        data = await self._call(
            "POST", f"/crm/v3/objects/{_segment(object_type)}/batch/upsert", json={"inputs": inputs}
        )
        if not isinstance(data, Mapping) or not isinstance(data.get("results"), list):
            raise _bad_response("batch upsert answered without results")
        if errors := data.get("errors") or []:
            # A 207: some inputs were refused. Say so, as a 400 would, so that the caller
            # isolates the refused record instead of taking the batch as written.
            first = errors[0] if isinstance(errors[0], Mapping) else {}
            message = str(first.get("message") or "some inputs were refused")
            code = str(first.get("category") or "VALIDATION_ERROR")
            raise InvalidRequestError(SYSTEM, code, f"{len(errors)} refused: {message}", status=400)
        records = [_record(r) for r in data["results"]]
        return _in_input_order(records, chunk, id_property)

    async def _call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Any = None,
    ) -> Any:
        with transport_errors(SYSTEM):
            response = await self._client.request(
                method,
                f"{self._base_url}{path}",
                params=params,
                json=json,
                headers=self._headers,
                timeout=self._timeout,
            )
        raise_for_response(SYSTEM, response, HUBSPOT_CODES)
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError as err:
            raise _bad_response(f"{method} {path} answered with non-JSON") from err


def split_name(name: str) -> tuple[str, str]:
    """HubSpot contacts have first and last names: the first word, and the rest."""
    first, _, last = name.strip().partition(" ")
    return first, last.strip()


def decimal_text(amount: Decimal) -> str:
    """A plain decimal string: HubSpot refuses exponent notation such as 1E+3."""
    return format(amount, "f")


def midnight_utc_ms(day: date) -> str:
    return str(int(datetime.combine(day, time(0), UTC).timestamp() * 1000))


def _segment(value: str) -> str:
    """One path segment: ids from business keys may hold `/` or spaces."""
    return quote(value, safe="")


def _record(data: Any) -> CrmRecord:
    if not isinstance(data, Mapping):
        raise _bad_response("expected a record object")
    try:
        properties = data.get("properties") or {}
        return CrmRecord(
            id=str(data["id"]),
            properties={k: (None if v is None else str(v)) for k, v in properties.items()},
            created_at=data["createdAt"],
            updated_at=data["updatedAt"],
        )
    except (KeyError, AttributeError, ValidationError) as err:
        raise _bad_response(f"malformed record: {err}") from err


def _in_input_order(
    records: list[CrmRecord], chunk: Sequence[CrmUpsert], id_property: str
) -> list[CrmRecord]:
    """HubSpot does not promise batch results in input order; match them back by the id."""
    by_key = {(r.properties.get(id_property) or "").casefold(): r for r in records}
    ordered = [by_key.get(item.id.casefold()) for item in chunk]
    if len(records) == len(chunk) and all(r is not None for r in ordered):
        return [r for r in ordered if r is not None]
    return records


def _one(records: list[CrmRecord]) -> CrmRecord:
    if len(records) != 1:
        raise _bad_response(f"expected one record for one upsert, got {len(records)}")
    return records[0]


def _bad_response(message: str) -> IntegrationError:
    # Not retryable: a response we cannot read will read the same next time.
    return IntegrationError(SYSTEM, "InvalidResponse", message)
