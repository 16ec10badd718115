"""Seeded fault injection for the reference services: latency, error rates, hung requests, outages.

Set at start-up (`--faults JSON`) or at run time with `PUT /admin/faults`; decisions come from a
`random.Random(seed)` so that a test replaying the same requests sees the same faults.
"""

from __future__ import annotations

import asyncio
import json
import random
import secrets
import time
from typing import Any

from fastapi import APIRouter, FastAPI, Header, HTTPException
from pydantic import BaseModel, Field
from starlette.types import ASGIApp, Receive, Scope, Send

# Paths that are never faulted: the admin API itself and health probes.
_EXEMPT = ("/admin", "/healthz", "/readyz", "/docs", "/openapi.json")


class FaultConfig(BaseModel):
    latency_ms: int = Field(0, ge=0, description="added to every request")
    error_rate: float = Field(0.0, ge=0.0, le=1.0, description="share of requests that fail")
    error_statuses: list[int] = Field(default_factory=lambda: [503])
    hang_rate: float = Field(0.0, ge=0.0, le=1.0, description="share of requests that hang")
    hang_seconds: float = Field(30.0, ge=0.0)
    outage_start_in: float = Field(0.0, ge=0.0, description="seconds from now")
    outage_seconds: float = Field(0.0, ge=0.0, description="length of the outage; 0 for none")
    retry_after_seconds: int = Field(1, ge=0, description="Retry-After sent with 429 and 503")
    seed: int = 0


class FaultStats(BaseModel):
    requests: int = 0
    errors: int = 0
    hangs: int = 0
    outage_rejections: int = 0


class FaultState(BaseModel):
    config: FaultConfig
    stats: FaultStats
    outage_active: bool


class FaultInjector:
    def __init__(self, config: FaultConfig | None = None) -> None:
        self.stats = FaultStats()
        self.configure(config or FaultConfig())

    def configure(self, config: FaultConfig) -> None:
        self.config = config
        self._random = random.Random(config.seed)
        now = time.monotonic()
        start = now + config.outage_start_in
        self._outage = (start, start + config.outage_seconds)

    def outage_active(self) -> bool:
        start, end = self._outage
        return start <= time.monotonic() < end

    def state(self) -> FaultState:
        return FaultState(config=self.config, stats=self.stats, outage_active=self.outage_active())

    def decide(self) -> tuple[str, int | None]:
        """("ok" | "error" | "hang" | "outage", status) for the next request."""
        self.stats.requests += 1
        if self.outage_active():
            self.stats.outage_rejections += 1
            return "outage", 503
        roll = self._random.random()
        if roll < self.config.hang_rate:
            self.stats.hangs += 1
            return "hang", 504
        if roll < self.config.hang_rate + self.config.error_rate:
            self.stats.errors += 1
            return "error", self._random.choice(self.config.error_statuses)
        return "ok", None


class FaultMiddleware:
    """Pure ASGI middleware: a faulted request never reaches the handler (no half-writes)."""

    def __init__(self, app: ASGIApp, injector: FaultInjector) -> None:
        self.app = app
        self.injector = injector

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(_EXEMPT):
            await self.app(scope, receive, send)
            return
        config = self.injector.config
        if config.latency_ms:
            await asyncio.sleep(config.latency_ms / 1000)
        outcome, status = self.injector.decide()
        if outcome == "ok":
            await self.app(scope, receive, send)
            return
        if outcome == "hang":
            await asyncio.sleep(config.hang_seconds)
        assert status is not None
        await _send_error(send, status, outcome, config.retry_after_seconds)


async def _send_error(send: Send, status: int, outcome: str, retry_after: int) -> None:
    body = json.dumps(
        {
            "status": "error",
            "category": "RATE_LIMITS" if status == 429 else "SERVICE_UNAVAILABLE",
            "message": f"injected fault: {outcome} ({status})",
        }
    ).encode()
    headers: list[tuple[bytes, bytes]] = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    if status in (429, 503):
        headers.append((b"retry-after", str(retry_after).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def install_faults(app: FastAPI, injector: FaultInjector, admin_token: str | None) -> None:
    """Adds the middleware and `GET/PUT /admin/faults` (bearer `admin_token` when one is set)."""
    app.add_middleware(FaultMiddleware, injector=injector)
    router = APIRouter(prefix="/admin", tags=["admin"])

    def check(authorization: str | None) -> None:
        sent, expected = (authorization or "").encode(), f"Bearer {admin_token}".encode()
        if admin_token and not secrets.compare_digest(sent, expected):
            raise HTTPException(status_code=401, detail="admin token missing or wrong")

    @router.get("/faults")
    async def get_faults(authorization: str | None = Header(None)) -> FaultState:
        check(authorization)
        return injector.state()

    @router.put("/faults")
    async def put_faults(
        config: FaultConfig, authorization: str | None = Header(None)
    ) -> FaultState:
        check(authorization)
        injector.configure(config)
        return injector.state()

    app.include_router(router)


def parse_faults(raw: str | None) -> FaultConfig:
    """`--faults '{"error_rate": 0.2}'` or the FAULTS environment variable; empty means none."""
    if not raw:
        return FaultConfig()
    data: Any = json.loads(raw)
    return FaultConfig.model_validate(data)
