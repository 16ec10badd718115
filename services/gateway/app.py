"""The gateway's FastAPI application: webhooks, the approval inbox, health.

Webhook errors answer `{"error": {"code", "message"}}`; the inbox answers HTML.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import anyio.to_thread
from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException
from starlette.middleware.sessions import SessionMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

import services.gateway
from continuum.events.config import Nats
from continuum.settings import ORDERS_TASK_QUEUE
from domain.approvals.models import Person
from domain.approvals.policy import ApprovalPolicy
from domain.figures import BoardConfig
from services.gateway.alertmanager import AlertmanagerReceiver, AlertRouting, alertmanager_router
from services.gateway.alerts_page import alerts_router
from services.gateway.board import BoardDesk, board_router
from services.gateway.broker import BrokerConsumer
from services.gateway.errors import GatewayError, error_response
from services.gateway.events import EventMap
from services.gateway.inbound import Inbound
from services.gateway.inbox import InboxConfig, Pages, inbox_router
from services.gateway.incidents_page import incidents_router
from services.gateway.people import People
from services.gateway.receipts import Receipts
from services.gateway.temporal import Temporal
from services.gateway.watchdog_health import watchdog_health_router
from services.gateway.webhooks import Webhooks, webhook_router
from store import Store
from store.incidents import IncidentAudit
from store.sessions import LoginThrottle, Sessions

log = logging.getLogger("services.gateway")


@dataclass(frozen=True)
class GatewayConfig:
    # The store of the receipts (CONTINUUM_DATABASE_URL), and today's files to carry into it.
    database_url: str
    events: EventMap
    webhook_secrets: dict[str, str]
    session_secret: str
    # The approvals directory (username → name, roles) and the inbox's password hashes.
    people: dict[str, Person] = field(default_factory=dict)
    users_file: Path | None = None
    temporal_address: str | None = None
    task_queue: str = ORDERS_TASK_QUEUE
    policy: ApprovalPolicy = field(default_factory=ApprovalPolicy)
    delivery_deadline_hours: float = 72.0
    inbox: InboxConfig = field(default_factory=InboxConfig)
    # Behind TLS the session cookie is marked Secure too.
    secure_cookies: bool = False
    legacy_files: tuple[Path, ...] = ()
    # Alertmanager's bearer token (GATEWAY_ALERTMANAGER_TOKEN; None: the receiver is off) and
    # the routes the alerts it raises take (the watchdog's configuration).
    alertmanager_token: str | None = None
    alert_routing: AlertRouting = field(default_factory=AlertRouting)
    # The live board's target, manual baselines and queues (continuum/defaults/board.toml).
    board: BoardConfig = field(default_factory=BoardConfig)
    # How often the watchdog's schedule runs it (WATCHDOG_EVERY_SECONDS): /health/watchdog.
    watchdog_every_seconds: int = 60
    # NATS JetStream's inbound events (continuum/defaults/events.toml [nats], consume = true).
    broker: Nats | None = None


_SECURITY_HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"content-security-policy", b"default-src 'self'; form-action 'self'; frame-ancestors 'none'"),
)


class SecurityHeaders:
    """Pure ASGI: pages cannot be framed, sniffed, or load anything from elsewhere."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *_SECURITY_HEADERS]
            await send(message)

        await self.app(scope, receive, with_headers if scope["type"] == "http" else send)


def _health_router(receipts: Receipts, temporal: Temporal) -> APIRouter:
    router = APIRouter(tags=["health"])

    @router.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/readyz")
    async def readyz() -> JSONResponse:
        """Ready when the store answers and Temporal is reachable."""
        try:
            await anyio.to_thread.run_sync(receipts.ping)
        except Exception as err:
            return JSONResponse({"status": "unavailable", "detail": str(err)}, status_code=503)
        if not await temporal.healthy():
            detail = "Temporal is not reachable"
            return JSONResponse({"status": "unavailable", "detail": detail}, status_code=503)
        return JSONResponse({"status": "ok"})

    return router


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(GatewayError)
    async def refused(_: Request, err: GatewayError) -> Response:
        return err.response()

    @app.exception_handler(RequestValidationError)
    async def malformed(_: Request, err: RequestValidationError) -> Response:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in err.errors())
        return error_response(422, "MalformedRequest", problems or "malformed request")

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, err: HTTPException) -> Response:
        return error_response(
            err.status_code, "HTTPError", str(err.detail), dict(err.headers or {})
        )

    @app.exception_handler(Exception)
    async def crash(_: Request, err: Exception) -> Response:
        log.exception("unhandled error", exc_info=err)
        return error_response(500, "InternalError", "the gateway failed; retry later")


# Accepted receipts are kept this long, then forgotten: far beyond the signature's replay window
# (a resent event older than that is refused anyway) and any sender's retry horizon.
RECEIPT_RETENTION_SECONDS = 30 * 24 * 3600


async def _forget_old_receipts(receipts: Receipts, every: float = 3600.0) -> None:
    """Hourly, on every replica (each delete is idempotent): the receipts table stays bounded."""
    while True:
        try:
            cutoff = time.time() - RECEIPT_RETENTION_SECONDS
            if gone := await anyio.to_thread.run_sync(receipts.forget_accepted_before, cutoff):
                log.info("forgot %d webhook receipt(s) older than the retention", gone)
        except Exception as err:  # the store hiccuped: the next round catches up
            log.warning("could not forget old receipts: %s", err)
        await asyncio.sleep(every)


def create_app(config: GatewayConfig) -> FastAPI:
    """Opens (and migrates) the store now, so that a bad one fails at start-up (`StoreError`)."""
    store = Store(config.database_url, legacy=config.legacy_files).open()
    receipts = Receipts(store)
    people = People(config.people, config.users_file)
    temporal = Temporal(config.temporal_address, config.task_queue)
    inbound = Inbound(
        config.events,
        config.webhook_secrets,
        receipts,
        temporal,
        config.policy,
        config.delivery_deadline_hours,
    )
    hooks = Webhooks(inbound)
    # The same events from the broker (NATS JetStream), when one is configured to consume.
    consumer = BrokerConsumer(inbound, config.broker) if config.broker else None

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await temporal.connect()
        housekeeping = asyncio.create_task(_forget_old_receipts(receipts), name="receipts")
        consuming = asyncio.create_task(consumer.run(), name="broker") if consumer else None
        yield
        for task in (housekeeping, consuming):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        store.close()

    app = FastAPI(
        title="Continuum gateway",
        version="1.0",
        description=services.gateway.__doc__ or "",
        lifespan=lifespan,
    )
    app.include_router(_health_router(receipts, temporal))
    app.include_router(watchdog_health_router(temporal, config.watchdog_every_seconds))
    app.include_router(webhook_router(hooks))
    receiver = AlertmanagerReceiver(config.alertmanager_token, config.alert_routing, temporal)
    app.include_router(alertmanager_router(receiver))
    sessions, throttle = Sessions(store), LoginThrottle(store)
    app.include_router(inbox_router(people, temporal, config.inbox, sessions, throttle))
    app.include_router(alerts_router(Pages(people, sessions), temporal, config.inbox))
    app.include_router(board_router(Pages(people, sessions), BoardDesk(temporal, config.board)))
    incidents = IncidentAudit(store)
    app.include_router(
        incidents_router(
            Pages(people, sessions), temporal, config.inbox, incidents, broker=config.broker
        )
    )
    app.mount("/static", StaticFiles(directory=Path(__file__).parent / "static"), name="static")
    _install_error_handlers(app)
    # Signed (itsdangerous), HttpOnly, SameSite=Lax; it carries the server-side session's token
    # (store.sessions: ended by logout, a password change or its absolute expiry), the CSRF
    # token and the flash message.
    app.add_middleware(
        SessionMiddleware,
        secret_key=config.session_secret,
        session_cookie="continuum_inbox",
        max_age=8 * 3600,
        same_site="lax",
        https_only=config.secure_cookies,
    )
    app.add_middleware(SecurityHeaders)
    return app
