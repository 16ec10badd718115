"""Webhook events: the envelope senders post, and the mapping of each event to the process it
concerns (an order or a purchase).

The mapping is configuration (shipped: continuum/defaults/webhooks.toml), checked here when the
gateway starts so that a typo fails the start, not the first event.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from domain.orders import contract as orders
from domain.orders.lifecycle import CancelRequest, DeliveryNotice
from domain.orders.models import Order
from domain.purchasing import contract as purchasing
from domain.purchasing.models import (
    CancelPurchase,
    DocumentAnswer,
    GoodsReceipt,
    PurchaseResult,
    SupplierConfirmation,
    SupplierInvoice,
)

SourceName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9-]{0,39}$")]


class PaymentCaptured(BaseModel):
    """The payment provider's word that it captured the money for an order."""

    order_id: str
    payment_id: str
    amount: Decimal
    currency: str


EventData = (
    DeliveryNotice
    | CancelRequest
    | Order
    | PaymentCaptured
    | SupplierConfirmation
    | GoodsReceipt
    | SupplierInvoice
    | CancelPurchase
)
DataName = Literal[
    "DeliveryNotice",
    "CancelRequest",
    "Order",
    "PaymentCaptured",
    "SupplierConfirmation",
    "GoodsReceipt",
    "SupplierInvoice",
    "CancelPurchase",
]


class Process(StrEnum):
    ORDER = "order"
    PURCHASE = "purchase"


@dataclass(frozen=True)
class Target:
    """A process events may reach: its workflow id scheme, the handlers its contract lets other
    systems use, and the data each event of it may carry."""

    noun: str  # how messages name it: "order O-1"
    id_field: str  # the field of the event's data that names the instance
    workflow_id: Callable[[str], str]
    signals: frozenset[str]
    updates: frozenset[str]
    data: dict[str, type[EventData]]
    # Handler → the data it takes, where the contract fixes it (a mismatch fails the start).
    takes: dict[str, str] = field(default_factory=dict)
    # Update → the type of its answer (else the answer is passed on as it comes).
    answers: dict[str, type[BaseModel]] = field(default_factory=dict)


TARGETS: dict[Process, Target] = {
    Process.ORDER: Target(
        noun="order",
        id_field="order_id",
        workflow_id=orders.workflow_id,
        signals=orders.SIGNALS,
        updates=orders.UPDATES,
        data={
            "DeliveryNotice": DeliveryNotice,
            "CancelRequest": CancelRequest,
            "Order": Order,
            "PaymentCaptured": PaymentCaptured,
        },
    ),
    Process.PURCHASE: Target(
        noun="purchase",
        id_field="requisition_id",
        workflow_id=purchasing.workflow_id,
        signals=purchasing.SIGNALS,
        updates=purchasing.UPDATES,
        data={
            "SupplierConfirmation": SupplierConfirmation,
            "GoodsReceipt": GoodsReceipt,
            "SupplierInvoice": SupplierInvoice,
            "CancelPurchase": CancelPurchase,
        },
        takes={
            purchasing.Message.SUPPLIER_CONFIRMED: "SupplierConfirmation",
            purchasing.Message.GOODS_RECEIVED: "GoodsReceipt",
            purchasing.Message.INVOICE_RECEIVED: "SupplierInvoice",
            purchasing.Message.CANCEL: "CancelPurchase",
        },
        answers={
            purchasing.Message.GOODS_RECEIVED: DocumentAnswer,
            purchasing.Message.INVOICE_RECEIVED: DocumentAnswer,
            purchasing.Message.CANCEL: PurchaseResult,
        },
    ),
}


class Action(StrEnum):
    SIGNAL = "signal"
    UPDATE = "update"
    SIGNAL_WITH_START = "signal-with-start"


class Route(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    action: Action
    handler: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    data: DataName
    send: Literal["data", "notice"] = "data"
    # Which process the event reaches: an order (OrderToCash, order-<data.order_id>) or a
    # purchase (ProcureToPay, purchase-<data.requisition_id>).
    process: Process = Process.ORDER

    @model_validator(mode="after")
    def _fits_the_process(self) -> Self:
        target = TARGETS[self.process]
        noun = target.noun
        if self.data not in target.data:
            raise ValueError(
                f"the {noun} workflow takes no {self.data} data; "
                f"it takes {', '.join(sorted(target.data))}"
            )
        takes = target.updates if self.action is Action.UPDATE else target.signals
        if self.handler not in takes:
            raise ValueError(
                f"the {noun} workflow has no {self.action.value} handler {self.handler!r}; "
                f"it takes {', '.join(sorted(takes))}"
            )
        wanted = target.takes.get(self.handler)
        if wanted is not None and wanted != self.data:
            raise ValueError(
                f"the {noun} workflow's {self.handler} takes {wanted}, not {self.data}"
            )
        if self.process is not Process.ORDER and self.action is Action.SIGNAL_WITH_START:
            raise ValueError("signal-with-start starts orders only")
        if self.process is not Process.ORDER and self.send != "data":
            raise ValueError(f"a {noun} event sends its data (notices are kept by orders only)")
        if self.action is Action.SIGNAL_WITH_START and self.data != "Order":
            raise ValueError("signal-with-start starts an order, so its data must be Order")
        if self.action is Action.SIGNAL_WITH_START and self.send != "notice":
            raise ValueError("signal-with-start sends the notice (the order is the start input)")
        return self

    @property
    def target(self) -> Target:
        return TARGETS[self.process]

    @property
    def model(self) -> type[EventData]:
        return self.target.data[self.data]

    def instance_id(self, data: EventData) -> str:
        """The business id in the event's data that names the workflow (order or requisition)."""
        value: str = getattr(data, self.target.id_field)
        return value


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
