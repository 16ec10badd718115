"""The ERP's FastAPI application: routes, bearer auth, error shapes, health and admin.

Every error answers `{"error": {"code": ..., "message": ...}}`; malformed requests are 400
ValidationError naming the field (FastAPI's 422 is kept for business rules).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

import anyio.to_thread
from fastapi import APIRouter, FastAPI, Header, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

import services.erp
from services.erp.api import api_router
from services.erp.errors import ErpError, error_body
from services.erp.idempotency import RETENTION, forget_before
from services.erp.purchase_api import purchasing_router
from services.erp.schemas import Generated, GenerateRequest
from services.erp.seed import generate, seed_demo
from services.erp.store import Database
from services.faults import FaultConfig, FaultInjector, install_faults

log = logging.getLogger("services.erp")

_HTTP_CODES = {401: "Unauthorized", 403: "Forbidden", 404: "NotFound", 405: "MethodNotAllowed"}


@dataclass(frozen=True)
class ErpConfig:
    db_path: Path
    api_token: str
    admin_token: str | None = None
    seed: Literal["none", "demo"] = "none"
    faults: FaultConfig = field(default_factory=FaultConfig)
    idempotency_retention: timedelta = RETENTION


class BearerAuth:
    """Pure ASGI: requests under `prefix` need the bearer token before anything else runs."""

    def __init__(self, app: ASGIApp, token: str, prefix: str = "/api") -> None:
        self.app = app
        self.expected = f"Bearer {token}".encode()
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(self.prefix):
            sent = dict(scope["headers"]).get(b"authorization", b"")
            if not secrets.compare_digest(sent, self.expected):
                answer = _error(401, "Unauthorized", "missing or wrong bearer token")
                answer.headers["WWW-Authenticate"] = "Bearer"
                await answer(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _error(status: int, code: str, message: str) -> Response:
    return Response(error_body(code, message), status_code=status, media_type="application/json")


def _field(loc: tuple[int | str, ...]) -> str:
    """("body", "lines", 0, "quantity") → "lines.0.quantity"; a bare ("body",) stays "body"."""
    if not loc:
        return "request"
    return ".".join(str(part) for part in loc[1:]) or str(loc[0])


def _problem(error: dict[str, Any]) -> str:
    if error.get("type") == "json_invalid":
        # Its loc is ("body", position), which names no field.
        return f"body: not valid JSON at position {error['loc'][-1]}"
    return f"{_field(tuple(error['loc']))}: {error['msg']}"


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ErpError)
    async def erp_error(_: Request, err: ErpError) -> Response:
        answer = _error(err.status, err.code, err.message)
        answer.headers.update(err.headers)
        return answer

    @app.exception_handler(RequestValidationError)
    async def malformed(_: Request, err: RequestValidationError) -> Response:
        problems = "; ".join(_problem(e) for e in err.errors())
        return _error(400, "ValidationError", problems or "malformed request")

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, err: HTTPException) -> Response:
        answer = _error(err.status_code, _HTTP_CODES.get(err.status_code, "HTTPError"), err.detail)
        answer.headers.update(err.headers or {})
        return answer

    @app.exception_handler(Exception)
    async def crash(_: Request, err: Exception) -> Response:
        log.exception("unhandled error", exc_info=err)
        return _error(500, "InternalError", "the ERP failed; nothing was stored, try again")


def _admin_router(db: Database, admin_token: str | None) -> APIRouter:
    router = APIRouter(prefix="/admin", tags=["admin"])

    @router.post("/generate")
    async def generate_data(
        body: GenerateRequest, authorization: Annotated[str | None, Header()] = None
    ) -> Generated:
        """Bulk synthetic customers, orders and suppliers for benchmarks, in one transaction."""
        if admin_token and not secrets.compare_digest(
            (authorization or "").encode(), f"Bearer {admin_token}".encode()
        ):
            raise ErpError(401, "Unauthorized", "admin token missing or wrong")

        def run() -> Generated:
            with db.transaction() as tx:
                return generate(tx, body.customers, body.orders, body.seed, body.suppliers)

        return await anyio.to_thread.run_sync(run)

    return router


def _health_router(db: Database) -> APIRouter:
    router = APIRouter(tags=["health"])

    @router.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/readyz")
    async def readyz() -> JSONResponse:
        try:
            await anyio.to_thread.run_sync(db.ping)
        except sqlite3.Error as err:
            return JSONResponse({"status": "unavailable", "detail": str(err)}, status_code=503)
        return JSONResponse({"status": "ok"})

    return router


async def _forget_old_answers(db: Database, retention: timedelta, every: float = 3600.0) -> None:
    """At start and hourly: stored answers older than the retention go (the table stays bounded)."""
    while True:
        cutoff = datetime.now(UTC) - retention
        try:
            if gone := await anyio.to_thread.run_sync(forget_before, db, cutoff):
                log.info("forgot %d stored write answer(s) older than %s", gone, retention)
        except sqlite3.Error as err:  # busy or failing: the next round catches up
            log.warning("could not forget old idempotency keys: %s", err)
        await asyncio.sleep(every)


def create_app(config: ErpConfig) -> FastAPI:
    """Opens (and creates) the database now, so that a bad --db fails at start-up."""
    db = Database(config.db_path)
    if config.seed == "demo":
        with db.transaction() as tx:
            if seed_demo(tx):
                log.info("seeded demo data into %s", config.db_path)
    if not config.admin_token:
        log.warning("ERP_ADMIN_TOKEN is not set: /admin is open to anyone who can connect")

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        forgetting = asyncio.create_task(_forget_old_answers(db, config.idempotency_retention))
        yield
        forgetting.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await forgetting
        db.close()

    app = FastAPI(
        title="Continuum reference ERP",
        version="1.0",
        description=services.erp.__doc__ or "",
        lifespan=lifespan,
    )
    app.include_router(_health_router(db))
    app.include_router(api_router(db))
    app.include_router(purchasing_router(db))
    app.include_router(_admin_router(db, config.admin_token))
    _install_error_handlers(app)
    app.add_middleware(BearerAuth, token=config.api_token)
    # Added last, so outermost: an injected fault stops a request before auth or any write.
    install_faults(app, FaultInjector(config.faults), config.admin_token)
    return app
