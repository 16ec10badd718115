"""The CRM's object types and their property definitions, and how a raw value becomes a stored one.

Values are stored as HubSpot returns them: strings, with numbers as plain decimals, dates as
`YYYY-MM-DD`, datetimes as `YYYY-MM-DDTHH:MM:SS.mmmZ` (fixed width, so text order is time order).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from enum import StrEnum
from typing import Any


class ObjectType(StrEnum):
    CONTACTS = "contacts"
    COMPANIES = "companies"
    DEALS = "deals"


# HubSpot accepts the object type ids in paths as well as the names.
_TYPE_ALIASES = {
    "contacts": ObjectType.CONTACTS,
    "contact": ObjectType.CONTACTS,
    "0-1": ObjectType.CONTACTS,
    "companies": ObjectType.COMPANIES,
    "company": ObjectType.COMPANIES,
    "0-2": ObjectType.COMPANIES,
    "deals": ObjectType.DEALS,
    "deal": ObjectType.DEALS,
    "0-3": ObjectType.DEALS,
}


def resolve_object_type(raw: str) -> ObjectType | None:
    return _TYPE_ALIASES.get(raw.lower())


class PropertyType(StrEnum):
    STRING = "string"
    NUMBER = "number"
    DATE = "date"
    DATETIME = "datetime"
    ENUMERATION = "enumeration"


_FIELD_TYPES = {
    PropertyType.STRING: "text",
    PropertyType.NUMBER: "number",
    PropertyType.DATE: "date",
    PropertyType.DATETIME: "date",
    PropertyType.ENUMERATION: "select",
}


@dataclass(frozen=True)
class PropertyDef:
    name: str
    label: str
    type: PropertyType = PropertyType.STRING
    group: str = "information"
    options: tuple[str, ...] = ()
    has_unique_value: bool = False
    read_only: bool = False
    hubspot_defined: bool = True
    # Checked as an email address and stored lower-cased, as HubSpot does for contact emails.
    email: bool = False

    def describe(self) -> dict[str, Any]:
        """The definition in the shape of HubSpot's properties API."""
        return {
            "name": self.name,
            "label": self.label,
            "type": self.type.value,
            "fieldType": _FIELD_TYPES[self.type],
            "groupName": self.group,
            "description": "",
            "options": [
                {"label": _label(o), "value": o, "displayOrder": i, "hidden": False}
                for i, o in enumerate(self.options)
            ],
            "hasUniqueValue": self.has_unique_value,
            "hidden": False,
            "calculated": False,
            "externalOptions": False,
            "formField": not self.read_only,
            "hubspotDefined": self.hubspot_defined,
            "modificationMetadata": {
                "archivable": not self.hubspot_defined,
                "readOnlyDefinition": self.hubspot_defined,
                "readOnlyValue": self.read_only,
            },
        }


@dataclass(frozen=True)
class ObjectSchema:
    type: ObjectType
    singular: str  # "contact": used in messages, as HubSpot does
    modified_property: str  # contacts say `lastmodifieddate`, the others `hs_lastmodifieddate`
    properties: dict[str, PropertyDef]
    # Returned when a read names no properties (HubSpot's defaults per object type).
    defaults: tuple[str, ...]
    # Searched by the free-text `query` of the search endpoint.
    text_searchable: tuple[str, ...] = field(default=())

    @property
    def system(self) -> tuple[str, ...]:
        """Always returned: the id and the two timestamps."""
        return ("hs_object_id", "createdate", self.modified_property)

    def unique_properties(self) -> list[PropertyDef]:
        return [p for p in self.properties.values() if p.has_unique_value and not p.read_only]


def _label(value: str) -> str:
    return value.replace("_", " ").capitalize()


def _props(*defs: PropertyDef) -> dict[str, PropertyDef]:
    return {d.name: d for d in defs}


def _system(modified: str) -> tuple[PropertyDef, ...]:
    return (
        PropertyDef(
            "hs_object_id", "Record ID", PropertyType.NUMBER, has_unique_value=True, read_only=True
        ),
        PropertyDef("createdate", "Create date", PropertyType.DATETIME, read_only=True),
        PropertyDef(modified, "Last modified date", PropertyType.DATETIME, read_only=True),
    )


DEAL_STAGES = (
    "appointmentscheduled",
    "qualifiedtobuy",
    "presentationscheduled",
    "decisionmakerboughtin",
    "contractsent",
    "closedwon",
    "closedlost",
)
# The ERP's sales order states (domain.erp.SalesOrderStatus), mirrored onto deals by the sync.
ORDER_STATUSES = ("open", "cancelled", "invoiced")
LIFECYCLE_STAGES = (
    "subscriber",
    "lead",
    "marketingqualifiedlead",
    "salesqualifiedlead",
    "opportunity",
    "customer",
    "evangelist",
    "other",
)

_ERP = "erp_sync"  # group of the custom properties the ERP→CRM sync writes


def _erp_customer_props() -> tuple[PropertyDef, ...]:
    return (
        PropertyDef(
            "customer_id",
            "ERP customer ID",
            group=_ERP,
            has_unique_value=True,
            hubspot_defined=False,
        ),
        PropertyDef(
            "credit_limit",
            "ERP credit limit",
            PropertyType.NUMBER,
            group=_ERP,
            hubspot_defined=False,
        ),
        PropertyDef(
            "erp_updated_at",
            "Last changed in ERP",
            PropertyType.DATETIME,
            group=_ERP,
            hubspot_defined=False,
        ),
    )


SCHEMAS: dict[ObjectType, ObjectSchema] = {
    ObjectType.CONTACTS: ObjectSchema(
        type=ObjectType.CONTACTS,
        singular="contact",
        modified_property="lastmodifieddate",
        properties=_props(
            *_system("lastmodifieddate"),
            PropertyDef("email", "Email", has_unique_value=True, email=True),
            PropertyDef("firstname", "First name"),
            PropertyDef("lastname", "Last name"),
            PropertyDef("company", "Company name"),
            PropertyDef("phone", "Phone number"),
            PropertyDef("mobilephone", "Mobile phone number"),
            PropertyDef("jobtitle", "Job title"),
            PropertyDef("address", "Street address"),
            PropertyDef("city", "City"),
            PropertyDef("zip", "Postal code"),
            PropertyDef("country", "Country/Region"),
            PropertyDef("website", "Website URL"),
            PropertyDef(
                "lifecyclestage",
                "Lifecycle stage",
                PropertyType.ENUMERATION,
                options=LIFECYCLE_STAGES,
            ),
            *_erp_customer_props(),
        ),
        defaults=(
            "createdate",
            "email",
            "firstname",
            "hs_object_id",
            "lastmodifieddate",
            "lastname",
        ),
        text_searchable=("email", "firstname", "lastname", "company", "phone"),
    ),
    ObjectType.COMPANIES: ObjectSchema(
        type=ObjectType.COMPANIES,
        singular="company",
        modified_property="hs_lastmodifieddate",
        properties=_props(
            *_system("hs_lastmodifieddate"),
            PropertyDef("name", "Company name"),
            PropertyDef("domain", "Company domain name", has_unique_value=True),
            PropertyDef("phone", "Phone number"),
            PropertyDef("website", "Website URL"),
            PropertyDef("industry", "Industry"),
            PropertyDef("address", "Street address"),
            PropertyDef("city", "City"),
            PropertyDef("zip", "Postal code"),
            PropertyDef("country", "Country/Region"),
            PropertyDef(
                "lifecyclestage",
                "Lifecycle stage",
                PropertyType.ENUMERATION,
                options=LIFECYCLE_STAGES,
            ),
            *_erp_customer_props(),
        ),
        defaults=("createdate", "domain", "hs_lastmodifieddate", "hs_object_id", "name"),
        text_searchable=("name", "domain", "website", "phone"),
    ),
    ObjectType.DEALS: ObjectSchema(
        type=ObjectType.DEALS,
        singular="deal",
        modified_property="hs_lastmodifieddate",
        properties=_props(
            *_system("hs_lastmodifieddate"),
            PropertyDef("dealname", "Deal name", group="dealinformation"),
            PropertyDef("amount", "Amount", PropertyType.NUMBER, group="dealinformation"),
            PropertyDef(
                "dealstage",
                "Deal stage",
                PropertyType.ENUMERATION,
                group="dealinformation",
                options=DEAL_STAGES,
            ),
            PropertyDef(
                "pipeline",
                "Pipeline",
                PropertyType.ENUMERATION,
                group="dealinformation",
                options=("default",),
            ),
            # A datetime in HubSpot too; a date sent for it means midnight UTC.
            PropertyDef("closedate", "Close date", PropertyType.DATETIME, group="dealinformation"),
            PropertyDef("deal_currency_code", "Currency", group="dealinformation"),
            PropertyDef("description", "Deal description", group="dealinformation"),
            PropertyDef(
                "order_id", "ERP order ID", group=_ERP, has_unique_value=True, hubspot_defined=False
            ),
            PropertyDef("customer_id", "ERP customer ID", group=_ERP, hubspot_defined=False),
            PropertyDef(
                "order_date", "Order date", PropertyType.DATETIME, group=_ERP, hubspot_defined=False
            ),
            PropertyDef(
                "order_status",
                "ERP order status",
                PropertyType.ENUMERATION,
                group=_ERP,
                options=ORDER_STATUSES,
                hubspot_defined=False,
            ),
            PropertyDef(
                "erp_updated_at",
                "Last changed in ERP",
                PropertyType.DATETIME,
                group=_ERP,
                hubspot_defined=False,
            ),
        ),
        defaults=(
            "amount",
            "closedate",
            "createdate",
            "dealname",
            "dealstage",
            "hs_lastmodifieddate",
            "hs_object_id",
            "pipeline",
        ),
        text_searchable=("dealname", "order_id"),
    ),
}


class PropertyValueError(ValueError):
    """A value the property's type refuses; `code` is HubSpot's (INVALID_OPTION, ...)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


_DECIMAL = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)$")
_EPOCH_MS = re.compile(r"^-?\d{9,}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MAX_STRING = 65_536


def raw_to_text(value: object) -> str | None:
    """JSON scalars as HubSpot reads them; None and "" both mean "clear the property"."""
    if value is None:
        return None
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, int | float):
        text = repr(value)
    else:
        text = str(value)
    return text if text.strip() else None


def normalize(prop: PropertyDef, text: str) -> str:
    """The stored form of `text` for `prop`, or PropertyValueError naming the value."""
    text = text.strip()
    match prop.type:
        case PropertyType.STRING:
            if len(text) > MAX_STRING:
                raise PropertyValueError(
                    "INVALID_STRING", f"value for {prop.name} is longer than {MAX_STRING}"
                )
            if prop.email:
                if not _EMAIL.match(text):
                    raise PropertyValueError("INVALID_EMAIL", f"Email address {text} is invalid")
                return text.lower()
            return text
        case PropertyType.NUMBER:
            if not _DECIMAL.match(text):
                raise PropertyValueError("INVALID_INTEGER", f"{text} was not a valid number.")
            return text.lstrip("+")
        case PropertyType.ENUMERATION:
            if text not in prop.options:
                raise PropertyValueError(
                    "INVALID_OPTION",
                    f"{text} was not one of the allowed options: [{', '.join(prop.options)}]",
                )
            return text
        case PropertyType.DATE:
            moment = _parse_moment(text)
            if moment is None or moment.timetz() != time(0, tzinfo=UTC):
                raise PropertyValueError(
                    "INVALID_DATE",
                    f"{text} is not a valid date: send YYYY-MM-DD or a midnight UTC timestamp",
                )
            return moment.date().isoformat()
        case PropertyType.DATETIME:
            moment = _parse_moment(text)
            if moment is None:
                raise PropertyValueError(
                    "INVALID_DATETIME",
                    f"{text} is not a valid datetime: send ISO 8601 or epoch milliseconds",
                )
            return format_datetime(moment)


def _parse_moment(text: str) -> datetime | None:
    """Epoch milliseconds, an ISO date (midnight UTC) or an ISO datetime (naive means UTC)."""
    try:
        if _EPOCH_MS.match(text):
            return datetime.fromtimestamp(int(text) / 1000, UTC)
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), time(0), UTC)
        moment = datetime.fromisoformat(text)
    except (ValueError, OverflowError, OSError):
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def format_datetime(moment: datetime) -> str:
    moment = moment.astimezone(UTC)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond // 1000:03d}Z"
