"""`POST /encode`, `POST /decode` in Temporal's remote codec format, for the Web UI.

Body and answer: `{"payloads": [{"metadata": {"encoding": "<base64>"}, "data": "<base64>"}]}`
(protobuf JSON of `temporal.api.common.v1.Payloads`). The browser calls it from the UI's
page, so CORS admits the UI's origins and no other. A bearer token is optional: the Web UI
sends one only when it is set up with its own auth ("pass access token"), so the local stack
runs without and relies on loopback; a shared deployment sets `CODEC_ENDPOINT_TOKEN`.

Without a token, listening on loopback is not enough against a web page in the same browser:
DNS rebinding makes `evil.example` resolve to 127.0.0.1, and the page's requests are then
same-origin. So the endpoint answers only requests whose Host is one of its own names, refuses
a browser Origin other than the UI's, accepts only JSON, and caps the body while it streams in.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, HTTPException, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from google.protobuf import json_format
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send
from temporalio.api.common.v1 import Payloads

from continuum.codec import CodecError, EncryptionCodec, Keyring
from services.bodies import BodyTooLarge, read_capped

log = logging.getLogger("services.codec")


@dataclass(frozen=True)
class CodecConfig:
    keyring: Keyring
    origins: Sequence[str]
    token: str | None = None
    # Re-reads the keyring when a payload names an unknown key id (a rotation since start).
    reload: Callable[[], Keyring] | None = None
    # The names this endpoint answers to (the Host header, port excluded): loopback by default.
    hosts: Sequence[str] = ("127.0.0.1", "localhost")
    # The UI decodes a page of history at a time; a payload is at most 2 MB in Temporal.
    max_body_bytes: int = 8 << 20


def ui_origins(ui_port: int) -> list[str]:
    """The origins a browser shows for the local Web UI on `ui_port`."""
    return [f"http://localhost:{ui_port}", f"http://127.0.0.1:{ui_port}"]


async def read_payloads(request: Request) -> Payloads:
    """The body as protobuf JSON (a dependency at module level: its annotation must resolve)."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/json":
        raise HTTPException(415, f"the body must be application/json, not {kind or 'untyped'}")
    limit: int = request.app.state.max_body_bytes
    try:
        body = await read_capped(request, limit)
    except BodyTooLarge as err:
        raise HTTPException(413, str(err)) from None
    try:
        return json_format.Parse(body, Payloads())
    except json_format.ParseError as err:
        raise HTTPException(400, f"not a Payloads JSON document: {err}") from None


class _OnlyOrigins:
    """Refuses a request that a browser sent from a page other than the UI's (CORS only keeps
    such a page from reading the answer; this keeps it from being served at all)."""

    def __init__(self, app: ASGIApp, origins: Sequence[str]) -> None:
        self.app = app
        self.origins = {o.encode() for o in origins}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            origin = dict(scope["headers"]).get(b"origin")
            if origin is not None and origin not in self.origins:
                refusal = JSONResponse({"detail": "origin not allowed"}, status_code=403)
                await refusal(scope, receive, send)
                return
        await self.app(scope, receive, send)


def create_app(config: CodecConfig) -> FastAPI:
    codec = EncryptionCodec(config.keyring, reload=config.reload)
    app = FastAPI(title="Continuum codec endpoint", docs_url=None, redoc_url=None)
    app.state.max_body_bytes = config.max_body_bytes
    app.add_middleware(_OnlyOrigins, origins=list(config.origins))
    app.add_middleware(
        CORSMiddleware,
        allow_origins=list(config.origins),
        allow_methods=["POST"],
        allow_headers=["Content-Type", "X-Namespace", "Authorization"],
        # The UI's "include cross-origin credentials" option sends cookies along.
        allow_credentials=True,
    )
    # Outermost: a request for another host name (DNS rebinding) is refused before anything.
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=list(config.hosts))
    expected = f"Bearer {config.token}".encode() if config.token else None

    def authorized(authorization: Annotated[str, Header()] = "") -> None:
        if expected and not secrets.compare_digest(authorization.encode(), expected):
            raise HTTPException(
                401, "missing or wrong bearer token", {"WWW-Authenticate": "Bearer"}
            )

    def answer(found: Sequence[Any]) -> dict[str, Any]:
        return json_format.MessageToDict(Payloads(payloads=found))

    @app.get("/healthz")
    async def healthz() -> dict[str, object]:
        return {"status": "ok", "keys": len(codec.keyring.keys), "newest": codec.keyring.newest}

    @app.get("/readyz")
    async def readyz() -> JSONResponse:
        """Ready when it holds a key to decrypt with (the Web UI shows ciphertext otherwise)."""
        ready = bool(codec.keyring.keys)
        return JSONResponse({"ready": ready}, status_code=200 if ready else 503)

    @app.post("/encode", dependencies=[Depends(authorized)])
    async def encode(
        body: Annotated[Payloads, Depends(read_payloads)],
        x_namespace: Annotated[str, Header()] = "default",
    ) -> dict[str, Any]:
        return answer(await codec.encode(body.payloads))

    @app.post("/decode", dependencies=[Depends(authorized)])
    async def decode(
        body: Annotated[Payloads, Depends(read_payloads)],
        x_namespace: Annotated[str, Header()] = "default",
    ) -> dict[str, Any]:
        try:
            return answer(await codec.decode(body.payloads))
        except CodecError as err:
            log.warning("decode refused (namespace %s): %s", x_namespace, err)
            raise HTTPException(422, str(err)) from None

    return app
