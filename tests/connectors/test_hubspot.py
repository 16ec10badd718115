"""HubSpotCrmClient against the reference CRM as a real process: every CrmPort method, and how
each kind of failure is classified (fault injection through PUT /admin/faults)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest

from connectors.http_errors import parse_retry_after
from connectors.hubspot import HubSpotCrmClient, split_name
from continuum.supervisor import free_port
from domain.crm import CrmContact, CrmDeal, CrmPort, CrmUpsert, DealStage
from domain.errors import (
    ConflictError,
    IntegrationError,
    InvalidRequestError,
    NotFoundError,
    TransientError,
)
from tests.conftest import ServiceHandle


@pytest.fixture
async def crm(crm_service: ServiceHandle) -> AsyncIterator[HubSpotCrmClient]:
    client = HubSpotCrmClient(crm_service.url, crm_service.api_token, timeout=5.0)
    yield client
    await client.aclose()


async def set_faults(service: ServiceHandle, **config: Any) -> None:
    async with httpx.AsyncClient() as http:
        response = await http.put(
            f"{service.url}/admin/faults",
            json=config,
            headers={"Authorization": f"Bearer {service.admin_token}"},
        )
    assert response.status_code == 200, response.text


def deal(order_id: str, stage: DealStage = DealStage.CONTRACT_SENT, **changes: Any) -> CrmDeal:
    fields: dict[str, Any] = {
        "order_id": order_id,
        "customer_id": "C-1",
        "name": f"Order {order_id}",
        "amount": Decimal("1234.50"),
        "currency": "EUR",
        "stage": stage,
    }
    return CrmDeal(**{**fields, **changes})


async def test_the_client_is_a_crm_port() -> None:
    port: CrmPort = HubSpotCrmClient("http://127.0.0.1:1", "token")  # checked by mypy
    await port.aclose()
    with pytest.raises(ValueError, match="access token"):
        HubSpotCrmClient("http://127.0.0.1:1")


# -- CrmPort against the service -----------------------------------------------------------


async def test_upsert_contact_is_idempotent_by_customer_id(crm: HubSpotCrmClient) -> None:
    contact = CrmContact(
        customer_id="C-7", email="Ada@Example.com", name="Ada King Lovelace", company="Analytical"
    )
    first = await crm.upsert_contact(contact)
    assert first.properties["customer_id"] == "C-7"
    assert first.properties["email"] == "ada@example.com"
    assert (first.properties["firstname"], first.properties["lastname"]) == ("Ada", "King Lovelace")
    assert first.created_at.tzinfo is not None

    again = await crm.upsert_contact(contact)
    assert again.id == first.id
    assert again.updated_at == first.updated_at  # nothing changed, nothing written

    moved = await crm.upsert_contact(contact.model_copy(update={"name": "Ada", "company": None}))
    assert moved.id == first.id
    assert "lastname" not in moved.properties  # "" sent for the missing last name clears it
    assert "company" not in moved.properties  # None clears the company


async def test_deal_upsert_find_and_stage_change(crm: HubSpotCrmClient) -> None:
    opened = await crm.upsert_deal(deal("ORD-1"))
    assert opened.properties["order_id"] == "ORD-1"
    assert opened.properties["amount"] == "1234.50"
    assert opened.properties["dealstage"] == "contractsent"
    assert opened.properties["pipeline"] == "default"
    assert opened.properties["deal_currency_code"] == "EUR"
    assert "closedate" not in opened.properties

    won = await crm.upsert_deal(
        deal("ORD-1", DealStage.CLOSED_WON, close_date=date(2024, 3, 31), amount=Decimal("1E+3"))
    )
    assert won.id == opened.id
    assert won.properties["closedate"] == "2024-03-31T00:00:00.000Z"
    assert won.properties["amount"] == "1000"  # no exponent notation on the wire

    found = await crm.find_deal("ORD-1")
    assert found is not None
    assert found.id == opened.id
    assert found.properties["dealstage"] == "closedwon"
    assert found.properties["customer_id"] == "C-1"
    assert found.properties["order_status"] is None  # asked for, never set
    assert await crm.find_deal("ORD-NONE") is None

    lost = await crm.set_deal_stage("ORD-1", DealStage.CLOSED_LOST)
    assert lost is not None
    assert lost.id == opened.id
    assert lost.properties["dealstage"] == "closedlost"
    assert lost.properties["dealname"] == "Order ORD-1"  # other properties kept
    assert await crm.set_deal_stage("ORD-NONE", DealStage.CLOSED_LOST) is None

    # Business keys may need escaping in the path (idProperty lookups).
    odd = await crm.upsert_deal(deal("ORD 2/B"))
    found_odd = await crm.find_deal("ORD 2/B")
    assert found_odd is not None and found_odd.id == odd.id
    staged = await crm.set_deal_stage("ORD 2/B", DealStage.CLOSED_WON)
    assert staged is not None and staged.properties["dealstage"] == "closedwon"


async def test_associate_deal_contact(crm: HubSpotCrmClient, crm_service: ServiceHandle) -> None:
    contact = await crm.upsert_contact(CrmContact(customer_id="C-9", email="b@x.example", name="B"))
    opened = await crm.upsert_deal(deal("ORD-3", customer_id="C-9"))
    await crm.associate_deal_contact(opened.id, contact.id)
    await crm.associate_deal_contact(opened.id, contact.id)  # again: no error, no duplicate

    async with httpx.AsyncClient() as http:
        response = await http.get(
            f"{crm_service.url}/crm/v4/objects/deals/{opened.id}/associations/contacts",
            headers={"Authorization": f"Bearer {crm_service.api_token}"},
        )
    links = response.json()
    assert links["results"] == [
        {
            "toObjectId": int(contact.id),
            "associationTypes": [{"category": "HUBSPOT_DEFINED", "typeId": 3, "label": None}],
        }
    ]
    with pytest.raises(NotFoundError) as missing:
        await crm.associate_deal_contact(opened.id, "999999")
    assert missing.value.code == "OBJECT_NOT_FOUND"
    assert missing.value.status == 404


async def test_batch_upsert_chunks_merges_repeats_and_keeps_order(crm: HubSpotCrmClient) -> None:
    records = [
        CrmUpsert(id=f"ORD-{n:03}", properties={"dealname": f"Order {n}", "amount": str(n)})
        for n in range(250)
    ]
    # A repeat of the first id later in the list: merged into it, later values win.
    records.append(CrmUpsert(id="ORD-000", properties={"dealstage": "closedwon", "amount": "7"}))
    first = await crm.batch_upsert("deals", "order_id", records)
    assert [r.properties["order_id"] for r in first] == [f"ORD-{n:03}" for n in range(250)]
    assert (first[0].properties["amount"], first[0].properties["dealstage"]) == ("7", "closedwon")
    assert len({r.id for r in first}) == 250

    second = await crm.batch_upsert("deals", "order_id", records)
    assert [r.id for r in second] == [r.id for r in first]
    assert await crm.batch_upsert("deals", "order_id", []) == []

    # Customers go to contacts by customer_id, with the ERP's fields.
    rows = [
        CrmUpsert(
            id=f"C-{n}",
            properties={
                "email": f"c{n}@example.com",
                "firstname": f"Customer {n}",
                "credit_limit": "5000.00",
                "erp_updated_at": "2024-05-01T12:00:00Z",
                "company": None,
            },
        )
        for n in range(3)
    ]
    contacts = await crm.batch_upsert("contacts", "customer_id", rows)
    assert [r.properties["customer_id"] for r in contacts] == ["C-0", "C-1", "C-2"]
    assert contacts[0].properties["erp_updated_at"] == "2024-05-01T12:00:00.000Z"


# -- error classification ------------------------------------------------------------------


async def test_refusals_are_not_retryable(crm: HubSpotCrmClient) -> None:
    with pytest.raises(InvalidRequestError) as unknown:
        await crm.batch_upsert(
            "deals", "order_id", [CrmUpsert(id="ORD-9", properties={"colour": "red"})]
        )
    assert unknown.value.code == "VALIDATION_ERROR"
    assert unknown.value.status == 400
    assert "colour" in unknown.value.message
    assert not unknown.value.retryable

    with pytest.raises(InvalidRequestError) as bad_option:
        await crm.batch_upsert(
            "deals", "order_id", [CrmUpsert(id="ORD-9", properties={"order_status": "lost"})]
        )
    assert "order_status" in bad_option.value.message
    assert "lost" in bad_option.value.message

    await crm.upsert_contact(CrmContact(customer_id="C-1", email="same@example.com", name="One"))
    with pytest.raises(ConflictError) as conflict:
        await crm.upsert_contact(
            CrmContact(customer_id="C-2", email="same@example.com", name="Two")
        )
    assert conflict.value.code == "CONFLICT"
    assert conflict.value.status == 409
    assert not conflict.value.retryable


async def test_a_wrong_token_is_an_invalid_request(crm_service: ServiceHandle) -> None:
    async with HubSpotCrmClient(crm_service.url, "not-the-token") as crm:
        with pytest.raises(InvalidRequestError) as refused:
            await crm.find_deal("ORD-1")
    assert refused.value.code == "INVALID_AUTHENTICATION"
    assert refused.value.status == 401
    assert not isinstance(refused.value, NotFoundError)
    assert not refused.value.retryable


async def test_injected_429_and_503_are_transient_with_retry_after(
    crm: HubSpotCrmClient, crm_service: ServiceHandle
) -> None:
    await set_faults(crm_service, error_rate=1.0, error_statuses=[429], retry_after_seconds=7)
    with pytest.raises(TransientError) as limited:
        await crm.upsert_deal(deal("ORD-5"))
    assert (limited.value.status, limited.value.code) == (429, "RATE_LIMITS")
    assert limited.value.retry_after == 7.0
    assert limited.value.retryable

    await set_faults(crm_service, error_rate=1.0, error_statuses=[503], retry_after_seconds=2)
    with pytest.raises(TransientError) as unavailable:
        await crm.find_deal("ORD-5")
    assert unavailable.value.status == 503
    assert unavailable.value.retry_after == 2.0

    await set_faults(crm_service, error_rate=1.0, error_statuses=[500])
    with pytest.raises(TransientError) as broken:
        await crm.set_deal_stage("ORD-5", DealStage.CLOSED_WON)
    assert (broken.value.status, broken.value.retry_after) == (500, None)

    # A faulted request never reached the handler: once faults stop, nothing was written.
    await set_faults(crm_service)
    assert await crm.find_deal("ORD-5") is None


async def test_a_hung_request_times_out_as_transient(crm_service: ServiceHandle) -> None:
    await set_faults(crm_service, hang_rate=1.0, hang_seconds=1.0)
    async with HubSpotCrmClient(crm_service.url, crm_service.api_token, timeout=0.2) as crm:
        started = datetime.now(UTC)
        with pytest.raises(TransientError) as hung:
            await crm.find_deal("ORD-6")
        waited = (datetime.now(UTC) - started).total_seconds()
    assert hung.value.code == "Timeout"
    assert hung.value.retryable
    assert waited < 0.8  # the client's timeout, not the server's hang, ended the wait


async def test_no_server_is_a_transient_connection_error() -> None:
    async with HubSpotCrmClient(f"http://127.0.0.1:{free_port()}", "token", timeout=2.0) as crm:
        with pytest.raises(TransientError) as refused:
            await crm.find_deal("ORD-7")
    assert refused.value.code == "ConnectionError"
    assert isinstance(refused.value, IntegrationError)


async def test_a_shared_http_client_stays_open(crm_service: ServiceHandle) -> None:
    async with httpx.AsyncClient() as shared:
        crm = HubSpotCrmClient(crm_service.url, crm_service.api_token, client=shared)
        assert await crm.find_deal("ORD-8") is None
        await crm.aclose()
        assert not shared.is_closed


# -- pure helpers ----------------------------------------------------------------------------


def test_parse_retry_after() -> None:
    now = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after("1.5") == 1.5
    assert parse_retry_after("Wed, 01 May 2024 12:00:30 GMT", now=now) == 30.0
    assert parse_retry_after("Wed, 01 May 2024 11:00:00 GMT", now=now) == 0.0  # already past
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None
    assert parse_retry_after("-3") == 0.0


def test_split_name() -> None:
    assert split_name("Ada Lovelace") == ("Ada", "Lovelace")
    assert split_name("  Jean Claude van Damme ") == ("Jean", "Claude van Damme")
    assert split_name("Cher") == ("Cher", "")


async def test_a_partly_refused_batch_upsert_is_not_taken_as_written() -> None:
    # HubSpot (not the reference CRM, which refuses a bad batch whole) can answer 207 with
    # the written records and the refused ones: the caller must see the refusal.
    def answer(request: httpx.Request) -> httpx.Response:
        now = "2026-11-21T10:00:00Z"
        written = {"id": "1", "properties": {"order_id": "O-1"}, "createdAt": now, "updatedAt": now}
        refused = {"status": "error", "category": "VALIDATION_ERROR", "message": "bad amount"}
        body = {"status": "COMPLETE", "results": [written], "errors": [refused], "numErrors": 1}
        return httpx.Response(207, json=body)

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as http:
        crm = HubSpotCrmClient("http://hubspot.test", "token", client=http)
        records = [CrmUpsert(id=f"O-{n}", properties={"amount": "1"}) for n in (1, 2)]
        with pytest.raises(InvalidRequestError) as refused:
            await crm.batch_upsert("deals", "order_id", records)
    assert (refused.value.status, refused.value.code) == (400, "VALIDATION_ERROR")
    assert "bad amount" in refused.value.message
