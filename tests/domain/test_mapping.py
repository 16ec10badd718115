"""The declarative ERP→CRM mapping: good records map, bad ones are rejected with a reason."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from domain.crm import CrmUpsert
from domain.erp import CustomerChange, OrderChange, SalesOrderStatus
from domain.sync.mapping import (
    DEFAULT_MAPPING,
    FieldRule,
    ObjectMapping,
    Rejected,
    SyncMapping,
    map_record,
)

DEALS, CONTACTS, COMPANIES = DEFAULT_MAPPING.objects
WHEN = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)


def order(**changes: Any) -> dict[str, Any]:
    base = OrderChange(
        order_id="O-1",
        customer_id="C-100",
        customer_name="ACME",
        order_date=WHEN,
        status=SalesOrderStatus.INVOICED,
        total=Decimal("1234.50"),
        currency="EUR",
        updated_at=WHEN,
    ).model_dump()
    return {**base, **changes}


def customer(**changes: Any) -> dict[str, Any]:
    base = CustomerChange(
        customer_id="C-100",
        name="Ada King Lovelace",
        email="Ada@Example.com",
        company="ACME",
        credit_limit=Decimal("50000"),
        updated_at=WHEN,
    ).model_dump()
    return {**base, **changes}


def test_an_order_becomes_a_deal() -> None:
    assert map_record(DEALS, order()) == CrmUpsert(
        id="O-1",
        properties={
            "dealname": "Order O-1 — ACME",
            "customer_id": "C-100",
            "order_date": "2026-11-20T09:30:00Z",
            "order_status": "invoiced",
            "dealstage": "closedwon",
            "amount": "1234.50",
            "deal_currency_code": "EUR",
            "erp_updated_at": "2026-11-20T09:30:00Z",
        },
    )


def test_a_customer_becomes_a_contact_and_a_company() -> None:
    contact = map_record(CONTACTS, customer())
    assert isinstance(contact, CrmUpsert)
    assert contact.properties["email"] == "ada@example.com"
    assert (contact.properties["firstname"], contact.properties["lastname"]) == (
        "Ada",
        "King Lovelace",
    )
    company = map_record(COMPANIES, customer())
    assert isinstance(company, CrmUpsert) and company.properties["name"] == "ACME"
    assert map_record(COMPANIES, customer(company=None)) is None  # skipped, not rejected


@pytest.mark.parametrize(
    ("mapping", "record", "field", "reason"),
    [
        (CONTACTS, customer(email="not-an-email"), "email", "is not an e-mail address"),
        (CONTACTS, customer(email=None), "email", "is required but missing"),
        (DEALS, order(status="lost-in-space"), "status", "is not one of"),
        (DEALS, order(total="lots"), "total", "is not a number"),
        (DEALS, order(currency="euro"), "currency", "is not a currency code"),
        (DEALS, order(order_date="yesterday"), "order_date", "is not a date"),
        (DEALS, order(total=Decimal("1E+999999")), "total", "is out of range"),
        (DEALS, order(order_id=""), "order_id", "the id is missing"),
    ],
)
def test_a_bad_record_is_rejected_naming_field_and_reason(
    mapping: ObjectMapping, record: dict[str, Any], field: str, reason: str
) -> None:
    rejected = map_record(mapping, record)
    assert isinstance(rejected, Rejected)
    assert rejected.field == field and reason in rejected.reason
    assert rejected.record == record  # kept whole for the quarantine


def test_a_mapping_is_checked_when_loaded() -> None:
    raw = DEFAULT_MAPPING.model_dump(mode="json")
    assert SyncMapping.model_validate(raw) == DEFAULT_MAPPING
    raw["objects"][0]["fields"].append({"source": "total", "target": "amount"})
    with pytest.raises(ValidationError, match=r"target\(s\) \['amount'\] mapped twice"):
        SyncMapping.model_validate(raw)
    with pytest.raises(ValidationError, match="transform"):
        ObjectMapping.model_validate(
            {
                "source": "orders",
                "target": "deals",
                "id_property": "order_id",
                "id_source": "order_id",
                "fields": [{"source": "total", "target": "amount", "transform": "rot13"}],
            }
        )


# Bounded so that generation stays fast on a busy machine; absurd magnitudes such as
# 1E+999999 are covered by the explicit rejection case above.
values = st.one_of(
    st.none(),
    st.text(max_size=30),
    st.integers(min_value=-(10**12), max_value=10**12),
    st.decimals(min_value=-(10**12), max_value=10**12, places=4),
    st.just(Decimal("NaN")),
)


# Generation time is wall-clock on a shared, noisy machine: not something a test may judge.
@settings(suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.dictionaries(st.sampled_from(sorted(order())), values))
def test_mapping_never_raises_whatever_the_record_holds(changes: dict[str, Any]) -> None:
    for mapping in DEFAULT_MAPPING.objects:
        record = {**order(), **customer(), **changes}
        outcome = map_record(mapping, record)
        assert outcome is None or isinstance(outcome, CrmUpsert | Rejected)
        if isinstance(outcome, CrmUpsert):
            assert set(outcome.properties) <= {rule.target for rule in mapping.fields}


@given(st.decimals(min_value=-(10**9), max_value=10**9, places=2))
def test_amounts_survive_the_mapping_exactly(total: Decimal) -> None:
    deal = map_record(DEALS, order(total=total))
    assert isinstance(deal, CrmUpsert)
    assert Decimal(deal.properties["amount"] or "") == total


def test_a_template_composes_fields_and_rejects_a_missing_one() -> None:
    rule = FieldRule(
        source="customer_name", target="dealname", template="Order {order_id} — {customer_name}"
    )
    mapping = DEALS.model_copy(update={"fields": [rule]})
    assert map_record(mapping, order()) == CrmUpsert(
        id="O-1", properties={"dealname": "Order O-1 — ACME"}
    )
    required = mapping.model_copy(update={"fields": [rule.model_copy(update={"required": True})]})
    rejected = map_record(required, order(customer_name=" "))
    assert isinstance(rejected, Rejected)
    assert (rejected.field, rejected.reason) == ("customer_name", "is required but missing")


@pytest.mark.parametrize(
    ("template", "problem"),
    [
        ("Order {order_id}", "must use its source 'customer_name'"),
        ("{customer_name!r}", "only plain {field} names"),
        ("{customer_name[0]}", "only plain {field} names"),
        ("{customer_name", "template '{customer_name'"),
    ],
)
def test_a_bad_template_fails_when_the_mapping_loads(template: str, problem: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(problem)):
        FieldRule(source="customer_name", target="dealname", template=template)
