"""Business events to a subscriber over HTTP: a CloudEvent 1.0 per POST, signed as the gateway
signs (`domain.signatures`: `X-Continuum-Signature: t=<unix>,v1=<HMAC-SHA256 of "<t>.<body>">`).

Structured mode by default (`Content-Type: application/cloudevents+json`, the whole event in the
body, so the signature covers id, type, subject and data); binary mode on request (`ce-*`
headers, the data alone in the body and under the signature). Every attempt is signed afresh,
so a retry is not refused as stale; the event id (`ce-id`, and `Idempotency-Key`) stays the
same, so the subscriber drops a copy. A 2xx is accepted; anything else raises the classified
`domain.errors` error and Temporal retries. No retries here.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Literal

import httpx
from cloudevents.core.bindings import http as ce_http

from connectors.events.cloudevent import to_cloudevent
from connectors.http import pooled_client
from connectors.http_errors import raise_for_response, transport_errors
from domain.events.models import BusinessEvent
from domain.events.sinks import type_matches
from domain.signatures import HEADER, sign

Mode = Literal["binary", "structured"]


def sink_name(subscriber: str) -> str:
    return f"webhook:{subscriber}"


class WebhookSink:
    def __init__(
        self,
        subscriber: str,
        url: str,
        secret: str,
        types: Sequence[str] = ("*",),
        mode: Mode = "structured",
        http_timeout: float = 10.0,
    ) -> None:
        self.subscriber = subscriber
        self.url = url
        self._secret = secret
        self.types = tuple(types)
        self.mode = mode
        self._system = sink_name(subscriber)
        self._http = pooled_client(httpx.Timeout(http_timeout))

    @property
    def name(self) -> str:
        return self._system

    def wants(self, event_type: str) -> bool:
        return type_matches(event_type, self.types)

    def message(self, event: BusinessEvent, now: float | None = None) -> ce_http.HTTPMessage:
        """The signed request this sink sends for `event` (headers and body)."""
        cloud = to_cloudevent(event)
        if self.mode == "binary":
            bound = ce_http.to_binary_event(cloud)
        else:
            bound = ce_http.to_structured_event(cloud)
        stamp = int(time.time() if now is None else now)
        headers = {
            **bound.headers,
            "Idempotency-Key": event.id,
            HEADER: sign(self._secret, bound.body, stamp),
        }
        return ce_http.HTTPMessage(headers=headers, body=bound.body)

    async def deliver(self, event: BusinessEvent) -> None:
        message = self.message(event)
        with transport_errors(self._system):
            response = await self._http.post(
                self.url, content=message.body, headers=message.headers
            )
        raise_for_response(self._system, response)

    async def close(self) -> None:
        await self._http.aclose()
