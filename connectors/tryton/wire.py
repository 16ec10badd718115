"""Tryton's wire format: its JSON (Decimal, date and datetime as `__class__` objects), record ids
and the constants every part of the connector shares."""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from domain.errors import NotFoundError

SYSTEM = "tryton"
log = logging.getLogger("connectors.tryton")  # one logger for the whole connector

RESERVATION_PREFIX = "reservation:"
OPEN_SHIPMENT_STATES = ("draft", "waiting", "assigned", "picked", "packed", "shipped")
TRANSIENT_STATUSES = (429, 502, 503, 504)
# The demo's test card, as on the reference ERP: always declined (PaymentDeclined).
DECLINED_TEST_CARD = "tok_declined"
# Tryton has no customer or supplier type: a party in this category is a supplier, kept out of
# the customer feed (`services.tryton` puts the demo suppliers in it).
SUPPLIER_CATEGORY = "Supplier"


# ---------------------------------------------------------------------------------------------
# Tryton's JSON: Decimal, date and datetime travel as {"__class__": ...} objects


def decode_hook(obj: dict[str, Any]) -> Any:
    kind = obj.get("__class__")
    if kind == "Decimal":
        return Decimal(obj["decimal"])
    if kind == "datetime":
        return dt.datetime(
            obj["year"],
            obj["month"],
            obj["day"],
            obj["hour"],
            obj["minute"],
            obj["second"],
            obj["microsecond"],
        )
    if kind == "date":
        return dt.date(obj["year"], obj["month"], obj["day"])
    return obj


def encode(value: Any) -> Any:
    if isinstance(value, Decimal):
        return {"__class__": "Decimal", "decimal": str(value)}
    if isinstance(value, dt.datetime):
        return {
            "__class__": "datetime",
            "year": value.year,
            "month": value.month,
            "day": value.day,
            "hour": value.hour,
            "minute": value.minute,
            "second": value.second,
            "microsecond": value.microsecond,
        }
    if isinstance(value, dt.date):
        return {"__class__": "date", "year": value.year, "month": value.month, "day": value.day}
    if isinstance(value, Mapping):
        return {k: encode(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [encode(v) for v in value]
    return value


def dumps(value: Any) -> str:
    return json.dumps(encode(value), separators=(",", ":"))


def b64(value: Any) -> str:
    return base64.urlsafe_b64encode(dumps(value).encode()).decode()


def loads(text: str | bytes) -> Any:
    return json.loads(text, object_hook=decode_hook)


def utc(value: dt.datetime) -> dt.datetime:
    """Tryton's timestamps are naive UTC."""
    return value.replace(tzinfo=dt.UTC)


def naive_utc(value: dt.datetime) -> dt.datetime:
    if value.tzinfo is None:
        return value
    return value.astimezone(dt.UTC).replace(tzinfo=None)


def parse_record_id(value: str, what: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise NotFoundError(SYSTEM, "NotFound", f"{what} {value!r} is not a Tryton id") from None
    if number <= 0:
        raise NotFoundError(SYSTEM, "NotFound", f"{what} {value!r} is not a Tryton id")
    return number


def ref_id(value: Any) -> int | None:
    """The id of a Many2One as REST returns it: an int, or a dict when sub-fields were asked."""
    if isinstance(value, dict):
        return int(value["id"])
    return int(value) if value is not None else None
