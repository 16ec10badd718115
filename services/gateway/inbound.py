"""Inbound events, one mapping for both ways in: the gateway's webhooks (`POST /events/{source}`)
and the broker's consumer (NATS JetStream, services/gateway/broker.py) turn an authenticated
event into a signal, an update or a signal-with-start on the workflow of the order or purchase
it concerns, through `Inbound.apply`.

Checks, in order, each with its own refusal: a known source (404), the signature and its
timestamp (401), the envelope and its data (422), not seen before (409), then Temporal. The
event is recorded as accepted only after Temporal took it; until then the sender may retry.
A refused update (the workflow's validator) and a document the purchase refused (a duplicate
invoice, answered `accepted=False`) are 409 with the reason, and not recorded as accepted: the
sender's retry of the same event gets the same answer (the update id is the event's).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import anyio.to_thread
from pydantic import ValidationError
from temporalio.client import (
    WorkflowExecutionStatus,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from continuum.client import finished_state
from continuum.order_client import OrderClient, OrderError
from domain.approvals.policy import ApprovalPolicy
from domain.orders.lifecycle import EventNotice
from domain.orders.models import Order
from domain.purchasing.models import DocumentAnswer
from services.gateway.errors import GatewayError
from services.gateway.events import Action, Event, EventData, EventMap, Route, Target
from services.gateway.receipts import ClaimState, Receipts
from services.gateway.signatures import REPLAY_WINDOW_SECONDS, SignatureError, verify
from services.gateway.temporal import Temporal

log = logging.getLogger("services.gateway.inbound")

MAX_BODY_BYTES = 1 << 20
RPC_TIMEOUT = timedelta(seconds=10)
# Temporal could not be reached or did not answer: the sender should retry later.
_UNAVAILABLE = {
    RPCStatusCode.UNAVAILABLE,
    RPCStatusCode.DEADLINE_EXCEEDED,
    RPCStatusCode.RESOURCE_EXHAUSTED,
    RPCStatusCode.CANCELLED,
    RPCStatusCode.UNKNOWN,
}


def _unavailable(detail: str) -> GatewayError:
    return GatewayError(
        503,
        "TemporalUnavailable",
        f"Temporal did not take the event ({detail}); nothing was recorded, retry later",
        {"Retry-After": "5"},
    )


def _malformed(err: ValidationError, where: str) -> GatewayError:
    problems = []
    for e in err.errors():
        if e["type"] == "json_invalid":
            problems.append("body: not valid JSON")
        else:
            field = ".".join(str(p) for p in e["loc"]) or "body"
            problems.append(f"{where}{field}: {e['msg']}")
    return GatewayError(422, "MalformedEvent", "; ".join(problems))


@dataclass(frozen=True)
class Applied:
    """An event Temporal took: which workflow, how, and the update's answer (if any)."""

    event: Event
    route: Route
    workflow_id: str
    result: Any


class Inbound:
    def __init__(
        self,
        events: EventMap,
        secrets: dict[str, str],
        receipts: Receipts,
        temporal: Temporal,
        policy: ApprovalPolicy,
        delivery_deadline_hours: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.events = events
        self.secrets = secrets
        self.receipts = receipts
        self.temporal = temporal
        self.policy = policy
        self.delivery_deadline_hours = delivery_deadline_hours
        self.clock = clock

    @property
    def orders(self) -> OrderClient:
        return self.temporal.orders

    async def apply(
        self,
        source: str,
        signature: str | None,
        body: bytes,
        *,
        replay_window: int = REPLAY_WINDOW_SECONDS,
    ) -> Applied:
        """The event to its workflow, once; raises GatewayError with the refusal.

        `replay_window`: how old a signed timestamp may be (a webhook's 5 minutes; a broker
        message may wait in its stream as long as the stream keeps it, and the receipts refuse
        a replay in that time)."""
        routes = self.events.sources.get(source)
        if routes is None:
            raise GatewayError(404, "UnknownSource", f"no webhook source named {source!r}")
        if len(body) > MAX_BODY_BYTES:
            raise GatewayError(413, "PayloadTooLarge", f"the body exceeds {MAX_BODY_BYTES} bytes")
        try:
            verify(self.secrets[source], signature, body, self.clock(), replay_window)
        except SignatureError as err:
            raise GatewayError(401, err.code, err.message) from None
        event, route, data = self._parse(source, routes, body)
        wf_id = route.target.workflow_id(route.instance_id(data))

        claim = await anyio.to_thread.run_sync(
            self.receipts.claim, source, event.id, event.type, wf_id, self.clock()
        )
        if claim.state is ClaimState.ACCEPTED:
            raise GatewayError(
                409,
                "DuplicateEvent",
                f"event {event.id!r} from {source} was already accepted; it is not applied again",
            )
        if claim.state is ClaimState.IN_FLIGHT:
            raise GatewayError(
                409,
                "EventInFlight",
                f"event {event.id!r} from {source} is being processed by another request",
                {"Retry-After": "5"},
            )
        try:
            result = await self._send(source, event, route, data)
        except BaseException:
            await anyio.to_thread.run_sync(self.receipts.release, source, event.id)
            raise
        await anyio.to_thread.run_sync(self.receipts.accept, source, event.id, self.clock())
        log.info("accepted %s event %s from %s → %s", event.type, event.id, source, wf_id)
        return Applied(event, route, wf_id, result)

    def _parse(
        self, source: str, routes: dict[str, Route], body: bytes
    ) -> tuple[Event, Route, EventData]:
        try:
            event = Event.model_validate_json(body)
        except ValidationError as err:
            raise _malformed(err, "") from None
        route = routes.get(event.type)
        if route is None:
            known = ", ".join(sorted(routes))
            raise GatewayError(
                422,
                "UnknownEventType",
                f"{source} sends no event of type {event.type!r}; it sends: {known}",
            )
        try:
            data = route.model.model_validate(event.data)
        except ValidationError as err:
            raise _malformed(err, "data.") from None
        return event, route, data

    async def _send(self, source: str, event: Event, route: Route, data: EventData) -> Any:
        """The event to Temporal; returns the update's result. Raises GatewayError."""
        target, business_id = route.target, route.instance_id(data)
        what = f"{target.noun} {business_id}"
        arg: EventData | EventNotice = data
        if route.send == "notice":
            arg = EventNotice(
                event_id=event.id, source=source, type=event.type, order_id=business_id
            )
        handle = self.temporal.client.get_workflow_handle(target.workflow_id(business_id))
        try:
            if route.action is Action.SIGNAL:
                await handle.signal(route.handler, arg, rpc_timeout=RPC_TIMEOUT)
                return None
            if route.action is Action.UPDATE:
                # The event's id: a sender's retry of an applied update gets its first answer.
                update_id = f"{source}:{event.id}"
                result = await handle.execute_update(
                    route.handler,
                    arg,
                    id=update_id,
                    rpc_timeout=RPC_TIMEOUT,
                    result_type=target.answers.get(route.handler),
                )
                if isinstance(result, DocumentAnswer) and not result.accepted:
                    raise GatewayError(409, "DocumentRefused", f"{what}: {result.reason}")
                return result
            assert isinstance(data, Order) and isinstance(arg, EventNotice)
            await self.orders.start(
                data, self.policy, self.delivery_deadline_hours, signal=(route.handler, arg)
            )
            return None
        except WorkflowUpdateFailedError as err:
            cause = err.cause
            message = cause.message if isinstance(cause, ApplicationError) else str(cause or err)
            raise GatewayError(409, "UpdateRefused", f"{what}: {message}") from None
        except WorkflowUpdateRPCTimeoutOrCancelledError:
            raise _unavailable("the update timed out") from None
        except OrderError as err:
            # Signal-with-start on an order id that was used by an order now finished.
            raise GatewayError(409, "WorkflowClosed", f"{err} and is finished") from None
        except RPCError as err:
            raise await self._rpc_problem(target, business_id, err) from None
        except RuntimeError as err:
            # The lazy client's first connection failed.
            raise _unavailable(str(err)) from None

    async def _rpc_problem(self, target: Target, business_id: str, err: RPCError) -> GatewayError:
        what, wf_id = f"{target.noun} {business_id}", target.workflow_id(business_id)
        if err.status in _UNAVAILABLE:
            return _unavailable(err.message)
        if err.status is not RPCStatusCode.NOT_FOUND:
            return GatewayError(502, "TemporalError", f"{what}: {err.message}")
        handle = self.temporal.client.get_workflow_handle(wf_id)
        try:
            description = await handle.describe(rpc_timeout=RPC_TIMEOUT)
        except RPCError as missing:
            if missing.status is RPCStatusCode.NOT_FOUND:
                return GatewayError(
                    404, "UnknownWorkflow", f"no workflow {wf_id}: {what} is unknown"
                )
            return _unavailable(missing.message)
        if description.status is not WorkflowExecutionStatus.RUNNING:
            state = await finished_state(handle, description.status)
            return GatewayError(409, "WorkflowClosed", f"{what} is already finished ({state})")
        return GatewayError(502, "TemporalError", f"{what}: {err.message}")
