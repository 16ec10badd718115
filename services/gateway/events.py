"""Webhook events: the envelope senders post, and the mapping of each event to the order.

The mapping is configuration (shipped: continuum/defaults/webhooks.toml), checked here when the
gateway starts so that a typo fails the start, not the first event.
"""

from __future__ import annotations

import os
import tomllib
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from domain.orders import contract as orders
from domain.orders.lifecycle import CancelRequest, DeliveryNotice
from domain.orders.models import Order

SourceName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9-]{0,39}$")]


class PaymentCaptured(BaseModel):
    """The payment provider's word that it captured the money for an order."""

    order_id: str
    payment_id: str
    amount: Decimal
    currency: str


EventData = DeliveryNotice | CancelRequest | Order | PaymentCaptured
DATA_MODELS: dict[str, type[EventData]] = {
    "DeliveryNotice": DeliveryNotice,
    "CancelRequest": CancelRequest,
    "Order": Order,
    "PaymentCaptured": PaymentCaptured,
}


class Action(StrEnum):
    SIGNAL = "signal"
    UPDATE = "update"
    SIGNAL_WITH_START = "signal-with-start"


class Route(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    action: Action
    handler: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    data: Literal["DeliveryNotice", "CancelRequest", "Order", "PaymentCaptured"]
    send: Literal["data", "notice"] = "data"

    @model_validator(mode="after")
    def _starts_an_order(self) -> Self:
        takes = orders.UPDATES if self.action is Action.UPDATE else orders.SIGNALS
        if self.handler not in takes:
            raise ValueError(
                f"the order workflow has no {self.action.value} handler {self.handler!r}; "
                f"it takes {', '.join(sorted(takes))}"
            )
        if self.action is Action.SIGNAL_WITH_START and self.data != "Order":
            raise ValueError("signal-with-start starts an order, so its data must be Order")
        if self.action is Action.SIGNAL_WITH_START and self.send != "notice":
            raise ValueError("signal-with-start sends the notice (the order is the start input)")
        return self

    @property
    def model(self) -> type[EventData]:
        return DATA_MODELS[self.data]


class EventMap(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sources: dict[SourceName, dict[str, Route]]

    @classmethod
    def load(cls, path: Path) -> EventMap:
        with path.open("rb") as file:
            return cls.model_validate(tomllib.load(file))


class Event(BaseModel):
    """What a sender posts: its own event id (the de-duplication key), a type, and data."""

    model_config = ConfigDict(extra="ignore")

    id: str = Field(min_length=1, max_length=200)
    type: str = Field(min_length=1, max_length=100)
    data: dict[str, Any]


def secret_variable(source: str) -> str:
    return "WEBHOOK_SECRET_" + source.upper().replace("-", "_")


def load_secrets(events: EventMap, environ: dict[str, str] | None = None) -> dict[str, str]:
    """Each source's secret from WEBHOOK_SECRET_<SOURCE>; all of them, or a ValueError."""
    env = os.environ if environ is None else environ
    secrets = {source: env.get(secret_variable(source), "") for source in events.sources}
    if missing := [secret_variable(s) for s, value in secrets.items() if not value]:
        raise ValueError(f"no webhook secret in {', '.join(missing)}")
    return secrets
