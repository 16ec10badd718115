"""The reference CRM over HTTP, as a real process: HubSpot's shapes, rules and failure answers."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from continuum.supervisor import ManagedProcess, free_port, http_ok, python_module
from tests.conftest import ServiceFactory, ServiceHandle

ISO_Z = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$"


def client_for(handle: ServiceHandle, token: str | None = None) -> httpx.Client:
    return httpx.Client(
        base_url=handle.url,
        headers={"Authorization": f"Bearer {token or handle.api_token}"},
        timeout=10.0,
    )


@pytest.fixture
def api(crm_service: ServiceHandle) -> Iterator[httpx.Client]:
    with client_for(crm_service) as client:
        yield client


def create(api: httpx.Client, object_type: str, **properties: Any) -> dict[str, Any]:
    response = api.post(f"/crm/v3/objects/{object_type}", json={"properties": properties})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def upsert(
    api: httpx.Client, object_type: str, id_property: str, items: dict[str, dict[str, Any]]
) -> httpx.Response:
    inputs = [{"idProperty": id_property, "id": k, "properties": v} for k, v in items.items()]
    return api.post(f"/crm/v3/objects/{object_type}/batch/upsert", json={"inputs": inputs})


def search(api: httpx.Client, object_type: str, **body: Any) -> dict[str, Any]:
    response = api.post(f"/crm/v3/objects/{object_type}/search", json=body)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def eq(name: str, value: str) -> dict[str, Any]:
    return {"filters": [{"propertyName": name, "operator": "EQ", "value": value}]}


def assert_hubspot_error(response: httpx.Response, status: int, category: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["status"] == "error"
    assert body["category"] == category
    assert body["correlationId"]
    assert body["message"]
    return body


# -- process and access ----------------------------------------------------------------------


def test_health_is_open_and_the_api_needs_the_bearer_token(crm_service: ServiceHandle) -> None:
    assert httpx.get(f"{crm_service.url}/healthz").status_code == 200
    assert httpx.get(f"{crm_service.url}/readyz").json() == {"status": "ready"}

    anonymous = httpx.get(f"{crm_service.url}/crm/v3/objects/contacts")
    assert_hubspot_error(anonymous, 401, "INVALID_AUTHENTICATION")
    with client_for(crm_service, token="wrong-token") as wrong:
        assert_hubspot_error(wrong.get("/crm/v3/objects/contacts"), 401, "INVALID_AUTHENTICATION")
        # Refused before the body is read: no 400 for a malformed body from a stranger.
        bad_body = wrong.post("/crm/v3/objects/contacts/search", content=b"{")
        assert_hubspot_error(bad_body, 401, "INVALID_AUTHENTICATION")
    with client_for(crm_service) as good:
        assert good.get("/crm/v3/objects/contacts").status_code == 200


def test_refuses_to_start_without_an_api_token(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "CRM_API_TOKEN"}
    db = tmp_path / "crm.db"
    argv = python_module("services.crm", "--port", str(free_port()), "--db", str(db))
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=30)
    assert done.returncode == 2
    assert "CRM_API_TOKEN" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert not db.exists()


# -- records ---------------------------------------------------------------------------------


def test_create_read_update_archive_a_contact(api: httpx.Client) -> None:
    created = create(
        api, "contacts", email="Grace@Example.com", firstname="Grace", customer_id="C-100"
    )
    assert created["archived"] is False
    assert created["createdAt"] == created["updatedAt"]
    assert created["createdAt"].endswith("Z")
    assert created["properties"]["email"] == "grace@example.com"  # stored lower-cased
    assert created["properties"]["hs_object_id"] == created["id"]
    contact_id = created["id"]

    read = api.get(f"/crm/v3/objects/contacts/{contact_id}", params={"properties": "customer_id"})
    assert read.status_code == 200
    # Asked-for properties plus id and timestamps, nothing else.
    assert set(read.json()["properties"]) == {
        "customer_id",
        "hs_object_id",
        "createdate",
        "lastmodifieddate",
    }
    assert read.json()["properties"]["customer_id"] == "C-100"

    by_email = api.get("/crm/v3/objects/contacts/GRACE@example.com", params={"idProperty": "email"})
    assert by_email.json()["id"] == contact_id
    by_customer = api.get("/crm/v3/objects/contacts/C-100", params={"idProperty": "customer_id"})
    assert by_customer.json()["id"] == contact_id
    not_unique = api.get("/crm/v3/objects/contacts/Grace", params={"idProperty": "firstname"})
    assert_hubspot_error(not_unique, 400, "VALIDATION_ERROR")

    patched = api.patch(
        f"/crm/v3/objects/contacts/{contact_id}",
        json={"properties": {"lastname": "Hopper", "firstname": ""}},
    )
    assert patched.status_code == 200
    props = patched.json()["properties"]
    assert props["lastname"] == "Hopper"
    assert "firstname" not in props  # "" clears a property, as in HubSpot
    assert patched.json()["updatedAt"] >= created["updatedAt"]

    by_id_property = api.patch(
        "/crm/v3/objects/contacts/C-100",
        params={"idProperty": "customer_id"},
        json={"properties": {"phone": "+49 30 1234"}},
    )
    assert by_id_property.json()["properties"]["phone"] == "+49 30 1234"

    assert api.delete(f"/crm/v3/objects/contacts/{contact_id}").status_code == 204
    assert api.delete(f"/crm/v3/objects/contacts/{contact_id}").status_code == 204  # idempotent
    gone = api.get(f"/crm/v3/objects/contacts/{contact_id}")
    assert_hubspot_error(gone, 404, "OBJECT_NOT_FOUND")
    archived = api.get(f"/crm/v3/objects/contacts/{contact_id}", params={"archived": "true"})
    assert archived.json()["archived"] is True
    # Archiving frees the unique values for a new record.
    assert create(api, "contacts", email="grace@example.com")["id"] != contact_id


def test_missing_records_answer_404_and_unknown_types_400(api: httpx.Client) -> None:
    body = assert_hubspot_error(api.get("/crm/v3/objects/widgets"), 400, "VALIDATION_ERROR")
    assert "widgets" in body["message"]
    for path in ("/crm/v3/objects/deals/987654", "/crm/v3/objects/deals/not-a-number"):
        assert_hubspot_error(api.get(path), 404, "OBJECT_NOT_FOUND")
    missing_order = api.patch(
        "/crm/v3/objects/deals/NO-SUCH-ORDER",
        params={"idProperty": "order_id"},
        json={"properties": {"dealstage": "closedwon"}},
    )
    body = assert_hubspot_error(missing_order, 404, "OBJECT_NOT_FOUND")
    assert "NO-SUCH-ORDER" in body["message"]


def test_list_pages_through_every_record_once(crm_factory: ServiceFactory) -> None:
    handle = crm_factory(seed="none")
    with client_for(handle) as api:
        created = {create(api, "companies", name=f"Company {i}")["id"] for i in range(23)}
        create(api, "contacts", email="not-a-company@example.com")  # another type, not listed

        seen: list[str] = []
        params: dict[str, Any] = {"limit": 5, "properties": "name"}
        pages = 0
        while True:
            page = api.get("/crm/v3/objects/companies", params=params).json()
            pages += 1
            seen += [r["id"] for r in page["results"]]
            assert all("name" in r["properties"] for r in page["results"])
            if "paging" not in page:
                break
            assert "after=" in page["paging"]["next"]["link"]
            params["after"] = page["paging"]["next"]["after"]
        assert pages == 5
        assert len(seen) == len(set(seen)) == 23
        assert set(seen) == created

        assert len(api.get("/crm/v3/objects/companies").json()["results"]) == 10
        too_many = api.get("/crm/v3/objects/companies", params={"limit": 101})
        assert_hubspot_error(too_many, 400, "VALIDATION_ERROR")


def test_demo_seed_fills_only_an_empty_crm_and_data_survives_restart(
    crm_factory: ServiceFactory,
) -> None:
    first = crm_factory(seed="demo")
    with client_for(first) as api:
        seeded = api.get("/crm/v3/objects/contacts").json()["results"]
        assert len(seeded) == 1
        deal = upsert(api, "deals", "order_id", {"ORD-KEEP": {"amount": "99.90"}}).json()
        contact_id = seeded[0]["id"]
        deal_id = deal["results"][0]["id"]
        put = api.put(f"/crm/v4/objects/deals/{deal_id}/associations/default/contacts/{contact_id}")
        assert put.status_code == 200
    first.process.stop()

    second = crm_factory(seed="demo", db=first.db_path)
    with client_for(second) as api:
        assert [r["id"] for r in api.get("/crm/v3/objects/contacts").json()["results"]] == [
            contact_id
        ]
        kept = api.get(
            "/crm/v3/objects/deals/ORD-KEEP",
            params={"idProperty": "order_id", "properties": "amount"},
        )
        assert kept.json()["id"] == deal_id
        assert kept.json()["properties"]["amount"] == "99.90"
        links = api.get(f"/crm/v4/objects/deals/{deal_id}/associations/contacts").json()
        assert [r["toObjectId"] for r in links["results"]] == [int(contact_id)]
        # The unique index survived too: the same upsert updates, it does not duplicate.
        again = upsert(api, "deals", "order_id", {"ORD-KEEP": {"amount": "99.90"}}).json()
        assert again["results"][0]["new"] is False


# -- batch upsert -------------------------------------------------------------------------


def test_batch_upsert_is_idempotent_by_the_unique_property(api: httpx.Client) -> None:
    items = {
        f"ORD-{n}": {"dealname": f"Order {n}", "amount": f"{n}0.50", "dealstage": "contractsent"}
        for n in range(1, 4)
    }
    first = upsert(api, "deals", "order_id", items)
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["status"] == "COMPLETE"
    assert body["startedAt"] <= body["completedAt"]
    assert [r["new"] for r in body["results"]] == [True, True, True]
    assert [r["properties"]["order_id"] for r in body["results"]] == list(items)

    second = upsert(api, "deals", "order_id", items).json()
    assert [r["id"] for r in second["results"]] == [r["id"] for r in body["results"]]
    assert [r["new"] for r in second["results"]] == [False, False, False]
    # Nothing changed, so nothing was written: updatedAt stays.
    assert [r["updatedAt"] for r in second["results"]] == [r["updatedAt"] for r in body["results"]]
    for order_id in items:
        assert search(api, "deals", filterGroups=[eq("order_id", order_id)])["total"] == 1

    # Properties merge: an upsert naming only the stage keeps the name and amount.
    merged = upsert(api, "deals", "order_id", {"ORD-1": {"dealstage": "closedwon"}}).json()
    props = merged["results"][0]["properties"]
    assert (props["dealname"], props["amount"], props["dealstage"]) == (
        "Order 1",
        "10.50",
        "closedwon",
    )


def test_batch_upsert_is_all_or_nothing(api: httpx.Client) -> None:
    create(api, "contacts", email="taken@example.com", customer_id="C-OWNER")
    bad_value = upsert(
        api,
        "deals",
        "order_id",
        {"ORD-OK": {"dealname": "fine"}, "ORD-BAD": {"dealstage": "almost"}},
    )
    body = assert_hubspot_error(bad_value, 400, "VALIDATION_ERROR")
    assert "inputs[1]" in body["message"]
    conflict = upsert(
        api,
        "contacts",
        "customer_id",
        {"C-NEW": {"firstname": "New"}, "C-THIEF": {"email": "taken@example.com"}},
    )
    assert_hubspot_error(conflict, 409, "CONFLICT")
    # The valid first inputs were rolled back with the refused ones.
    assert search(api, "deals", filterGroups=[eq("order_id", "ORD-OK")])["total"] == 0
    assert search(api, "contacts", filterGroups=[eq("customer_id", "C-NEW")])["total"] == 0


def test_batch_upsert_limits(api: httpx.Client) -> None:
    too_many: dict[str, dict[str, Any]] = {f"ORD-{n}": {} for n in range(101)}
    assert_hubspot_error(upsert(api, "deals", "order_id", too_many), 400, "VALIDATION_ERROR")
    twice = [
        {"idProperty": "order_id", "id": "ORD-X", "properties": {}},
        {"idProperty": "order_id", "id": "ORD-X", "properties": {"amount": "1"}},
    ]
    dup = api.post("/crm/v3/objects/deals/batch/upsert", json={"inputs": twice})
    assert "Duplicate" in assert_hubspot_error(dup, 400, "VALIDATION_ERROR")["message"]
    not_unique = upsert(api, "deals", "dealname", {"Some deal": {}})
    assert_hubspot_error(not_unique, 400, "VALIDATION_ERROR")


def test_batch_read_reports_missing_ids_with_207(api: httpx.Client) -> None:
    upsert(api, "deals", "order_id", {"ORD-R1": {"amount": "1"}, "ORD-R2": {"amount": "2"}})
    response = api.post(
        "/crm/v3/objects/deals/batch/read",
        json={
            "idProperty": "order_id",
            "inputs": [{"id": "ORD-R2"}, {"id": "ORD-NONE"}, {"id": "ORD-R1"}],
            "properties": ["amount"],
        },
    )
    assert response.status_code == 207
    body = response.json()
    assert [r["properties"]["amount"] for r in body["results"]] == ["2", "1"]
    assert body["numErrors"] == 1
    assert body["errors"][0]["category"] == "OBJECT_NOT_FOUND"
    assert body["errors"][0]["context"]["ids"] == ["ORD-NONE"]


# -- validation --------------------------------------------------------------------------


def test_creating_a_duplicate_unique_value_conflicts(api: httpx.Client) -> None:
    first = create(api, "contacts", email="dup@example.com", customer_id="C-1")
    again = api.post("/crm/v3/objects/contacts", json={"properties": {"email": "DUP@example.com"}})
    body = assert_hubspot_error(again, 409, "CONFLICT")
    assert first["id"] in body["message"]
    assert body["errors"][0]["in"] == "email"

    same_customer = api.post(
        "/crm/v3/objects/contacts", json={"properties": {"customer_id": "C-1"}}
    )
    assert_hubspot_error(same_customer, 409, "CONFLICT")
    other = create(api, "contacts", email="other@example.com")
    steal = api.patch(
        f"/crm/v3/objects/contacts/{other['id']}",
        json={"properties": {"email": "dup@example.com"}},
    )
    assert_hubspot_error(steal, 409, "CONFLICT")

    create(api, "deals", order_id="ORD-UNIQUE")
    deal_again = api.post("/crm/v3/objects/deals", json={"properties": {"order_id": "ORD-UNIQUE"}})
    assert_hubspot_error(deal_again, 409, "CONFLICT")
    # Unique per object type: a company may carry a contact's customer_id.
    create(api, "companies", customer_id="C-1", domain="c1.example")


REFUSED = [
    ("contacts", "favourite_colour", "blue", "PROPERTY_DOESNT_EXIST"),
    ("deals", "dealstage", "nearly_won", "INVALID_OPTION"),
    ("deals", "order_status", "shipped", "INVALID_OPTION"),
    ("deals", "amount", "12,50", "INVALID_INTEGER"),
    ("deals", "amount", "1E+3", "INVALID_INTEGER"),
    ("deals", "closedate", "next tuesday", "INVALID_DATETIME"),
    ("contacts", "email", "not-an-email", "INVALID_EMAIL"),
    ("contacts", "hs_object_id", "42", "READ_ONLY_VALUE"),
]


def test_refused_values_name_the_property_and_value(api: httpx.Client) -> None:
    # One process for all cases: starting one per case would cost a second each.
    for object_type, name, value, code in REFUSED:
        case = f"{object_type}.{name}={value!r}"
        response = api.post(f"/crm/v3/objects/{object_type}", json={"properties": {name: value}})
        body = assert_hubspot_error(response, 400, "VALIDATION_ERROR")
        assert name in body["message"], case
        assert [(e["code"], e["in"]) for e in body["errors"]] == [(code, name)], case
        assert body["errors"][0]["context"] == {"propertyName": [name]}, case
        if code not in ("PROPERTY_DOESNT_EXIST", "READ_ONLY_VALUE"):
            assert value in body["message"], case
        # The same rules hold for upserts.
        upserted = upsert(api, object_type, _unique_of(object_type), {"KEY-1": {name: value}})
        refused = assert_hubspot_error(upserted, 400, "VALIDATION_ERROR")
        assert refused["errors"][0]["code"] == code, case
    assert search(api, "deals")["total"] == 0  # nothing refused was stored


def _unique_of(object_type: str) -> str:
    return "order_id" if object_type == "deals" else "customer_id"


def test_values_are_stored_in_hubspot_form(api: httpx.Client) -> None:
    deal = create(
        api,
        "deals",
        amount=1234.5,
        closedate="2024-03-31",
        order_date="2024-03-01T10:15:00+02:00",
        dealstage="closedwon",
    )["properties"]
    assert deal["amount"] == "1234.5"
    assert deal["closedate"] == "2024-03-31T00:00:00.000Z"
    assert deal["order_date"] == "2024-03-01T08:15:00.000Z"
    by_ms = create(api, "deals", closedate="1711843200000")["properties"]
    assert by_ms["closedate"] == "2024-03-31T00:00:00.000Z"

    schema = api.get("/crm/v3/properties/deals").json()["results"]
    unique = {p["name"] for p in schema if p["hasUniqueValue"]}
    assert unique == {"hs_object_id", "order_id"}
    stage = api.get("/crm/v3/properties/deals/dealstage").json()
    assert stage["type"] == "enumeration"
    assert "closedwon" in [o["value"] for o in stage["options"]]


# -- search --------------------------------------------------------------------------------


def test_search_filters_sorts_and_pages(api: httpx.Client) -> None:
    rows = [
        ("S-1", "9", "contractsent", "2024-01-10"),
        ("S-2", "10", "closedwon", "2024-02-10"),
        ("S-3", "100", "closedwon", "2024-03-10"),
        ("S-4", "55.5", "closedlost", None),
    ]
    for order_id, amount, stage, close in rows:
        props = {"order_id": order_id, "amount": amount, "dealstage": stage}
        if close:
            props["closedate"] = close
        create(api, "deals", **props)

    def orders(**body: Any) -> list[str]:
        result = search(api, "deals", properties=["order_id"], **body)
        return [r["properties"]["order_id"] for r in result["results"]]

    def where(*filters: dict[str, Any], **body: Any) -> list[str]:
        return orders(filterGroups=[{"filters": list(filters)}], **body)

    # Numbers compare as numbers: "9" < "10".
    assert where({"propertyName": "amount", "operator": "GTE", "value": "10"}) == [
        "S-2",
        "S-3",
        "S-4",
    ]
    assert where({"propertyName": "amount", "operator": "LTE", "value": 10}) == ["S-1", "S-2"]
    assert where({"propertyName": "dealstage", "operator": "EQ", "value": "closedwon"}) == [
        "S-2",
        "S-3",
    ]
    assert where(
        {"propertyName": "order_id", "operator": "IN", "values": ["s-1", "S-4", "S-9"]}
    ) == ["S-1", "S-4"]
    assert where(
        {"propertyName": "closedate", "operator": "GTE", "value": "2024-02-01"},
        {"propertyName": "closedate", "operator": "LTE", "value": "1709251200000"},  # 2024-03-01
    ) == ["S-2"]
    assert where({"propertyName": "closedate", "operator": "NOT_HAS_PROPERTY"}) == ["S-4"]
    # Groups are OR'd.
    either = orders(filterGroups=[eq("order_id", "S-1"), eq("dealstage", "closedlost")])
    assert either == ["S-1", "S-4"]
    ranked = where(
        {"propertyName": "amount", "operator": "GT", "value": "0"},
        sorts=[{"propertyName": "amount", "direction": "DESCENDING"}],
    )
    assert ranked == ["S-3", "S-4", "S-2", "S-1"]

    first = search(api, "deals", limit=3, sorts=["order_id"], properties=["order_id"])
    assert first["total"] == 4
    second = search(
        api, "deals", limit=3, after=first["paging"]["next"]["after"], sorts=["order_id"]
    )
    assert "paging" not in second
    assert len(first["results"]) + len(second["results"]) == 4

    unknown = api.post(
        "/crm/v3/objects/deals/search",
        json={"filterGroups": [eq("colour", "red")]},
    )
    assert "colour" in assert_hubspot_error(unknown, 400, "VALIDATION_ERROR")["message"]
    bad_number = api.post(
        "/crm/v3/objects/deals/search",
        json={"filterGroups": [eq("amount", "lots")]},
    )
    assert "lots" in assert_hubspot_error(bad_number, 400, "VALIDATION_ERROR")["message"]


# -- associations --------------------------------------------------------------------------


def test_associations_between_deals_contacts_and_companies(api: httpx.Client) -> None:
    contact = create(api, "contacts", email="buyer@example.com")["id"]
    deal = create(api, "deals", order_id="ORD-A")["id"]

    path = f"/crm/v4/objects/deals/{deal}/associations/default/contacts/{contact}"
    first = api.put(path)
    assert first.status_code == 200
    specs = {
        (r["from"]["id"], r["to"]["id"], r["associationSpec"]["associationTypeId"])
        for r in first.json()["results"]
    }
    assert specs == {(deal, contact, 3), (contact, deal, 4)}
    assert api.put(path).status_code == 200  # again: nothing new

    from_deal = api.get(f"/crm/v4/objects/deals/{deal}/associations/contacts").json()
    assert from_deal["results"] == [
        {
            "toObjectId": int(contact),
            "associationTypes": [{"category": "HUBSPOT_DEFINED", "typeId": 3, "label": None}],
        }
    ]
    from_contact = api.get(f"/crm/v4/objects/contacts/{contact}/associations/deals").json()
    assert [r["toObjectId"] for r in from_contact["results"]] == [int(deal)]
    v3 = api.get(f"/crm/v3/objects/deals/{deal}", params={"associations": "contacts"}).json()
    assert v3["associations"]["contacts"]["results"] == [{"id": contact, "type": "deal_to_contact"}]

    missing = api.put(f"/crm/v4/objects/deals/{deal}/associations/default/contacts/999999")
    assert_hubspot_error(missing, 404, "OBJECT_NOT_FOUND")

    company = api.post(
        "/crm/v3/objects/companies",
        json={
            "properties": {"name": "Buyer Ltd"},
            "associations": [
                {
                    "to": {"id": contact},
                    "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 280}],
                }
            ],
        },
    ).json()["id"]
    to_company = api.get(f"/crm/v4/objects/contacts/{contact}/associations/companies").json()
    assert [r["toObjectId"] for r in to_company["results"]] == [int(company)]

    removed = api.delete(f"/crm/v4/objects/contacts/{contact}/associations/deals/{deal}")
    assert removed.status_code == 204
    assert api.get(f"/crm/v4/objects/deals/{deal}/associations/contacts").json()["results"] == []


# -- rate limiting -----------------------------------------------------------------------------


@pytest.fixture
def rate_limited_crm(tmp_path: Path) -> Iterator[ServiceHandle]:
    """The CRM started with `--rate-limit 3/30`, which the shared factory does not pass."""
    port, token = free_port(), "rate-limited-token"
    argv = python_module(
        "services.crm",
        *("--host", "127.0.0.1", "--port", str(port), "--db", str(tmp_path / "crm.db")),
        *("--seed", "none", "--rate-limit", "3/30"),
    )
    process = ManagedProcess(
        "crm-rate-limited",
        argv,
        log_path=tmp_path / "crm-rate-limited.log",
        env={"CRM_API_TOKEN": token, "CRM_ADMIN_TOKEN": "admin"},
    ).start()
    try:
        url = f"http://127.0.0.1:{port}"
        process.wait_ready(lambda: http_ok(f"{url}/healthz"), timeout=30)
        yield ServiceHandle("crm", url, token, "admin", tmp_path / "crm.db", process)
    finally:
        process.stop()


def test_rate_limiter_answers_429_with_retry_after(rate_limited_crm: ServiceHandle) -> None:
    with client_for(rate_limited_crm) as api:
        remaining = []
        for _ in range(3):
            ok = api.get("/crm/v3/objects/deals")
            assert ok.status_code == 200
            assert ok.headers["X-HubSpot-RateLimit-Max"] == "3"
            remaining.append(ok.headers["X-HubSpot-RateLimit-Remaining"])
        assert remaining == ["2", "1", "0"]

        limited = api.get("/crm/v3/objects/deals")
        body = assert_hubspot_error(limited, 429, "RATE_LIMITS")
        assert body["errorType"] == "RATE_LIMIT"
        assert 1 <= int(limited.headers["Retry-After"]) <= 30
        # Health probes are not limited.
        assert httpx.get(f"{rate_limited_crm.url}/healthz").status_code == 200
    with client_for(rate_limited_crm, token="someone-else") as stranger:
        # Authentication comes first: an unknown token is told so, not rate limited.
        assert stranger.get("/crm/v3/objects/deals").status_code == 401


def test_bad_rate_limit_flag_is_refused(tmp_path: Path) -> None:
    argv = python_module(
        "services.crm", "--port", str(free_port()), "--db", str(tmp_path / "x.db"),
        "--rate-limit", "lots",
    )  # fmt: skip
    env = {**os.environ, "CRM_API_TOKEN": "t"}
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=30)
    assert done.returncode == 2
    assert "N/SECONDS" in done.stderr
