"""`GET /health/watchdog`: the watchdog's dead-man's switch, checked from outside it.

200 when the `continuum-watchdog` schedule's newest completed run is recent (three intervals and a
margin), 503 when it is late, paused or missing, or Temporal cannot say: a load balancer or an
uptime checker pages on it even when the ops worker, and with it every Alert, is down.
"""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from temporalio.service import RPCError

from continuum.watchdog import watchdog_heartbeat
from services.gateway.temporal import Temporal


def watchdog_health_router(temporal: Temporal, every_seconds: int) -> APIRouter:
    router = APIRouter(tags=["health"])

    @router.get("/health/watchdog")
    async def watchdog_health() -> JSONResponse:
        try:
            beat = await watchdog_heartbeat(temporal.client, every_seconds, datetime.now(UTC))
        except (RuntimeError, RPCError) as err:
            detail = f"Temporal cannot tell the watchdog's runs: {err}"
            return JSONResponse({"status": "unknown", "detail": detail}, status_code=503)
        return JSONResponse(beat.model_dump(mode="json"), status_code=200 if beat.ok else 503)

    return router
