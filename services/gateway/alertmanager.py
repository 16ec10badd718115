"""`POST /alertmanager`: Prometheus's alerts, through Alertmanager, raise the same durable Alert
workflows as the watchdog, so infrastructure and business alerts share one dedupe, escalation,
acknowledgement and audit (deploy/alertmanager/alertmanager.yml sends here).

Checks, in order, each with its own answer: the receiver is configured (404), the bearer token
(401, before any of the body is read), the body within its cap (413), the webhook and every
alert in it (422, and then nothing is sent), then Temporal (503 while it cannot be reached:
Alertmanager retries). A firing alert is a signal-with-start of `observe` on the alert's
workflow (started when none is open); a resolved one is signalled to the open alert, if any.
A retry after a partial failure sends the same observations again, which the Alert takes as
repeats.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from domain.alerts.alertmanager import AlertmanagerError, Raising, parse, raisings
from domain.alerts.contract import TASK_QUEUE, WORKFLOW_NAME, Message, Route, Severity, workflow_id
from services.bodies import BodyTooLarge, read_capped
from services.gateway.errors import GatewayError
from services.gateway.temporal import Temporal

log = logging.getLogger("services.gateway.alertmanager")

MAX_BODY_BYTES = 1 << 20
MIN_TOKEN_LENGTH = 16
RPC_TIMEOUT = timedelta(seconds=10)
_UNAVAILABLE = {
    RPCStatusCode.UNAVAILABLE,
    RPCStatusCode.DEADLINE_EXCEEDED,
    RPCStatusCode.RESOURCE_EXHAUSTED,
    RPCStatusCode.CANCELLED,
    RPCStatusCode.UNKNOWN,
}


@dataclass(frozen=True)
class AlertRouting:
    """Who an alert of each severity notifies, level by level, and who may acknowledge it."""

    routes: Mapping[Severity, Route] = field(default_factory=dict)
    responders: Sequence[str] = ()


def _unavailable(detail: str) -> GatewayError:
    return GatewayError(
        503,
        "TemporalUnavailable",
        f"Temporal did not take the alert ({detail}); retry later",
        {"Retry-After": "10"},
    )


def _utc_now() -> datetime:
    return datetime.now(UTC)


class AlertmanagerReceiver:
    def __init__(
        self,
        token: str | None,
        routing: AlertRouting,
        temporal: Temporal,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        self.token = token
        self.routing = routing
        self.temporal = temporal
        self.clock = clock

    def authenticate(self, header: str | None) -> None:
        if not self.token:
            raise GatewayError(
                404,
                "ReceiverNotConfigured",
                "the Alertmanager receiver is off: GATEWAY_ALERTMANAGER_TOKEN is not set",
            )
        challenge = {"WWW-Authenticate": 'Bearer realm="alertmanager"'}
        scheme, _, sent = (header or "").strip().partition(" ")
        if scheme.lower() != "bearer" or not sent.strip():
            raise GatewayError(401, "MissingToken", "send Authorization: Bearer <token>", challenge)
        if not hmac.compare_digest(sent.strip().encode(), self.token.encode()):
            raise GatewayError(401, "BadToken", "the bearer token is not the receiver's", challenge)

    async def receive(self, body: bytes) -> JSONResponse:
        try:
            webhook = parse(body)
            raised = raisings(webhook, self.routing.routes, self.routing.responders, self.clock())
        except AlertmanagerError as err:
            raise GatewayError(422, "MalformedAlert", str(err)) from None
        answers = [await self._send(r) for r in raised]
        log.info("alertmanager: %d alert(s) observed", len(answers))
        return JSONResponse({"status": "accepted", "alerts": answers})

    async def _send(self, r: Raising) -> dict[str, Any]:
        wf_id = workflow_id(r.input.fingerprint)
        try:
            client = self.temporal.client
            result = await (self._fire(client, r) if r.firing else self._clear(client, r))
        except RPCError as err:
            if err.status in _UNAVAILABLE:
                raise _unavailable(err.message) from None
            raise GatewayError(502, "TemporalError", f"alert {wf_id}: {err.message}") from None
        except RuntimeError as err:  # the lazy client's first connection failed
            raise _unavailable(str(err)) from None
        return {
            "rule": r.input.rule,
            "subject": r.input.subject,
            "severity": r.input.severity.value,
            "workflow_id": wf_id,
            "observed": "firing" if r.firing else "clear",
            "result": result,
        }

    async def _fire(self, client: Client, r: Raising) -> str:
        await client.start_workflow(
            WORKFLOW_NAME,
            r.input,
            id=workflow_id(r.input.fingerprint),
            task_queue=TASK_QUEUE,
            start_signal=Message.OBSERVE,
            start_signal_args=[r.observation],
            rpc_timeout=RPC_TIMEOUT,
        )
        return "observed"

    async def _clear(self, client: Client, r: Raising) -> str:
        handle = client.get_workflow_handle(workflow_id(r.input.fingerprint))
        try:
            await handle.signal(Message.OBSERVE, r.observation, rpc_timeout=RPC_TIMEOUT)
        except RPCError as err:
            # Never raised, or already resolved: nothing is open to clear.
            if err.status is RPCStatusCode.NOT_FOUND:
                return "not-open"
            raise
        return "observed"


def alertmanager_router(receiver: AlertmanagerReceiver) -> APIRouter:
    router = APIRouter(tags=["alerts"])

    @router.post("/alertmanager")
    async def alertmanager(request: Request) -> JSONResponse:
        """Alertmanager's webhook (version 4); see the module's docstring for the answers."""
        receiver.authenticate(request.headers.get("Authorization"))
        try:
            body = await read_capped(request, MAX_BODY_BYTES)
        except BodyTooLarge as err:
            raise GatewayError(413, "PayloadTooLarge", str(err)) from None
        return await receiver.receive(body)

    return router
