"""`POST /events/{source}`: an authenticated event becomes a signal, an update or a
signal-with-start on the workflow of the order or purchase it concerns (services/gateway/inbound.py,
the mapping the broker's consumer shares). Each refusal is its own JSON answer: unknown source
404, signature 401, envelope or data 422, already accepted or in flight 409, Temporal away 503.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse

from services.bodies import BodyTooLarge, read_capped
from services.gateway.errors import GatewayError
from services.gateway.events import Action
from services.gateway.inbound import MAX_BODY_BYTES, Inbound
from services.gateway.signatures import HEADER


class Webhooks:
    def __init__(self, inbound: Inbound) -> None:
        self.inbound = inbound

    async def receive(self, source: str, signature: str | None, body: bytes) -> JSONResponse:
        applied = await self.inbound.apply(source, signature, body)
        event, route = applied.event, applied.route
        answer: dict[str, Any] = {
            "status": "accepted",
            "event_id": event.id,
            "source": source,
            "type": event.type,
            "workflow_id": applied.workflow_id,
            "action": route.action.value,
            "handler": route.handler,
        }
        if route.action is Action.UPDATE:
            answer["result"] = jsonable_encoder(applied.result)
        return JSONResponse(answer, status_code=200 if route.action is Action.UPDATE else 202)


def webhook_router(hooks: Webhooks) -> APIRouter:
    router = APIRouter(tags=["webhooks"])

    @router.post("/events/{source}", status_code=202)
    async def receive_event(source: str, request: Request) -> JSONResponse:
        """A signed event from `source`; see the module's docstring for the answers."""
        try:
            body = await read_capped(request, MAX_BODY_BYTES)
        except BodyTooLarge as err:
            raise GatewayError(413, "PayloadTooLarge", str(err)) from None
        return await hooks.receive(source, request.headers.get(HEADER), body)

    return router
