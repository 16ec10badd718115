"""Declarative ERP→CRM mapping: which source field fills which CRM property, and how.

A mapping is configuration (JSON or Python), validated by pydantic when it is loaded, so a typo
in a mapping fails at start-up and never half-way through a sync. Mapping a record either gives
a `CrmUpsert` or a `Rejected` naming the field and the reason, with the source record kept, so
that a bad record goes to the quarantine instead of stopping the sync or being dropped.
"""

from __future__ import annotations

import re
import string
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator

from domain.crm import CrmUpsert

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_MAX_DIGITS = 20


class Transform(StrEnum):
    TEXT = "text"  # as is, trimmed
    LOWER = "lower"
    UPPER = "upper"
    EMAIL = "email"  # lower-cased and checked
    DECIMAL = "decimal"  # a number, written as a plain decimal string
    CURRENCY = "currency"  # ISO 4217 code
    DATE = "date"  # YYYY-MM-DD
    DATETIME = "datetime"  # ISO 8601 in UTC with Z
    FIRST_WORD = "first_word"  # "Ada King Lovelace" → "Ada"
    OTHER_WORDS = "other_words"  # "Ada King Lovelace" → "King Lovelace"


class FieldRule(BaseModel):
    source: str = Field(description="field of the ERP record")
    target: str = Field(description="CRM property")
    transform: Transform = Transform.TEXT
    required: bool = False
    # For enumerations: ERP value → CRM value; a value not listed is rejected.
    values: dict[str, str] | None = None
    # Composes the value from several fields, e.g. "Order {order_id} — {customer_name}", so that
    # the sync writes the same deal name as order-to-cash; `source` must be one of them.
    template: str | None = None

    @model_validator(mode="after")
    def _template_fields(self) -> FieldRule:
        if self.template is None:
            return self
        names = template_fields(self.template)
        if self.source not in names:
            raise ValueError(f"template {self.template!r} must use its source {self.source!r}")
        return self


def template_fields(template: str) -> list[str]:
    """The `{field}` names of a template; anything fancier (indexing, formats) is refused."""
    try:
        parts = list(string.Formatter().parse(template))
    except ValueError as err:
        raise ValueError(f"template {template!r}: {err}") from None
    names: list[str] = []
    for _, name, spec, conversion in parts:
        if name is None:
            continue
        if not name.isidentifier() or spec or conversion:
            raise ValueError(f"template {template!r}: only plain {{field}} names are allowed")
        names.append(name)
    return names


class ObjectMapping(BaseModel):
    source: Literal["orders", "customers"]
    target: Literal["deals", "contacts", "companies"]
    # The unique CRM property the upsert is keyed by, and the ERP field that fills it.
    id_property: str
    id_source: str
    fields: list[FieldRule]
    # Records where this source field is empty are skipped (e.g. customers without a company).
    skip_unless: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> ObjectMapping:
        targets = [rule.target for rule in self.fields]
        twice = sorted({t for t in targets if targets.count(t) > 1})
        if twice:
            raise ValueError(f"{self.source}→{self.target}: target(s) {twice} mapped twice")
        if self.id_property in targets:
            raise ValueError(
                f"{self.source}→{self.target}: {self.id_property} is the id; do not map it again"
            )
        return self


class SyncMapping(BaseModel):
    objects: list[ObjectMapping]

    def for_source(self, source: str) -> list[ObjectMapping]:
        return [m for m in self.objects if m.source == source]


class Rejected(BaseModel):
    """A record that could not be mapped: it goes to the quarantine, not away."""

    source: str
    target: str
    record_id: str
    field: str
    reason: str
    record: dict[str, Any]


class _Bad(ValueError):
    pass


def _text(value: Any) -> str:
    return value.isoformat() if isinstance(value, date | datetime) else str(value).strip()


def _apply(transform: Transform, value: Any) -> str:
    text = _text(value)
    if transform is Transform.TEXT:
        return text
    if transform is Transform.LOWER:
        return text.lower()
    if transform is Transform.UPPER:
        return text.upper()
    if transform is Transform.EMAIL:
        if not _EMAIL.match(text):
            raise _Bad(f"{text!r} is not an e-mail address")
        return text.lower()
    if transform is Transform.DECIMAL:
        try:
            number = Decimal(text)
        except InvalidOperation:
            raise _Bad(f"{text!r} is not a number") from None
        if not number.is_finite():
            raise _Bad(f"{text!r} is not a finite number")
        # Refuse absurd magnitudes: '1E+999999' would otherwise become a million digits.
        if number and not -_MAX_DIGITS <= number.adjusted() <= _MAX_DIGITS:
            raise _Bad(f"{text!r} is out of range")
        return format(number, "f")
    if transform is Transform.CURRENCY:
        if not _CURRENCY.match(text.upper()):
            raise _Bad(f"{text!r} is not a currency code")
        return text.upper()
    if transform in (Transform.DATE, Transform.DATETIME):
        moment = value if isinstance(value, date) else _parse_moment(text)
        if transform is Transform.DATE:
            return (moment.date() if isinstance(moment, datetime) else moment).isoformat()
        if not isinstance(moment, datetime):
            moment = datetime(moment.year, moment.month, moment.day, tzinfo=UTC)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
    words = text.split()
    if transform is Transform.FIRST_WORD:
        return words[0] if words else ""
    return " ".join(words[1:])


def _parse_moment(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise _Bad(f"{text!r} is not a date") from None


def map_record(mapping: ObjectMapping, record: dict[str, Any]) -> CrmUpsert | Rejected | None:
    """The CRM upsert for one ERP record; `Rejected` when it is bad; None when it is skipped."""
    record_id = _text(record.get(mapping.id_source) or "")

    def reject(field: str, reason: str) -> Rejected:
        return Rejected(
            source=mapping.source,
            target=mapping.target,
            record_id=record_id,
            field=field,
            reason=reason,
            record=record,
        )

    if mapping.skip_unless and not _text(record.get(mapping.skip_unless) or ""):
        return None
    if not record_id:
        return reject(mapping.id_source, "the id is missing")
    properties: dict[str, str | None] = {}
    for rule in mapping.fields:
        names = template_fields(rule.template) if rule.template else [rule.source]
        missing = [n for n in names if record.get(n) is None or _text(record[n]) == ""]
        if missing:
            if rule.required:
                return reject(missing[0], "is required but missing")
            continue
        value = (
            rule.template.format_map({n: _text(record[n]) for n in names})
            if rule.template
            else record[rule.source]
        )
        try:
            mapped = _apply(rule.transform, value)
        except _Bad as bad:
            return reject(rule.source, str(bad))
        if rule.values is not None:
            if mapped not in rule.values:
                return reject(rule.source, f"{mapped!r} is not one of {sorted(rule.values)}")
            mapped = rule.values[mapped]
        properties[rule.target] = mapped
    return CrmUpsert(id=record_id, properties=properties)


# The default: orders → deals; customers → contacts and companies (HubSpot property names).
DEFAULT_MAPPING = SyncMapping(
    objects=[
        ObjectMapping(
            source="orders",
            target="deals",
            id_property="order_id",
            id_source="order_id",
            fields=[
                FieldRule(
                    source="customer_name",
                    target="dealname",
                    template="Order {order_id} — {customer_name}",
                    required=True,
                ),
                FieldRule(source="customer_id", target="customer_id", required=True),
                FieldRule(source="order_date", target="order_date", transform=Transform.DATETIME),
                FieldRule(source="status", target="order_status", required=True),
                FieldRule(
                    source="status",
                    target="dealstage",
                    values={
                        "open": "contractsent",
                        "invoiced": "closedwon",
                        "cancelled": "closedlost",
                    },
                ),
                FieldRule(
                    source="total", target="amount", transform=Transform.DECIMAL, required=True
                ),
                FieldRule(
                    source="currency", target="deal_currency_code", transform=Transform.CURRENCY
                ),
                FieldRule(
                    source="updated_at", target="erp_updated_at", transform=Transform.DATETIME
                ),
            ],
        ),
        ObjectMapping(
            source="customers",
            target="contacts",
            id_property="customer_id",
            id_source="customer_id",
            fields=[
                FieldRule(source="email", target="email", transform=Transform.EMAIL, required=True),
                FieldRule(source="name", target="firstname", transform=Transform.FIRST_WORD),
                FieldRule(source="name", target="lastname", transform=Transform.OTHER_WORDS),
                FieldRule(source="company", target="company"),
                FieldRule(
                    source="credit_limit", target="credit_limit", transform=Transform.DECIMAL
                ),
                FieldRule(
                    source="updated_at", target="erp_updated_at", transform=Transform.DATETIME
                ),
            ],
        ),
        ObjectMapping(
            source="customers",
            target="companies",
            id_property="customer_id",
            id_source="customer_id",
            skip_unless="company",
            fields=[
                FieldRule(source="company", target="name", required=True),
                FieldRule(
                    source="credit_limit", target="credit_limit", transform=Transform.DECIMAL
                ),
                FieldRule(
                    source="updated_at", target="erp_updated_at", transform=Transform.DATETIME
                ),
            ],
        ),
    ]
)
