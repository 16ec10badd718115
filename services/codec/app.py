"""`POST /encode`, `POST /decode` in Temporal's remote codec format, for the Web UI.

Body and answer: `{"payloads": [{"metadata": {"encoding": "<base64>"}, "data": "<base64>"}]}`
(protobuf JSON of `temporal.api.common.v1.Payloads`). The browser calls it from the UI's
page, so CORS admits the UI's origins and no other. A bearer token is optional: the Web UI
sends one only when it is set up with its own auth ("pass access token"), so the local stack
runs without and relies on loopback; a shared deployment sets `CODEC_ENDPOINT_TOKEN`.
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
from temporalio.api.common.v1 import Payloads

from continuum.codec import CodecError, EncryptionCodec, Keyring

log = logging.getLogger("services.codec")


@dataclass(frozen=True)
class CodecConfig:
    keyring: Keyring
    origins: Sequence[str]
    token: str | None = None
    # Re-reads the keyring when a payload names an unknown key id (a rotation since start).
    reload: Callable[[], Keyring] | None = None


def ui_origins(ui_port: int) -> list[str]:
    """The origins a browser shows for the local Web UI on `ui_port`."""
    return [f"http://localhost:{ui_port}", f"http://127.0.0.1:{ui_port}"]


async def read_payloads(request: Request) -> Payloads:
    """The body as protobuf JSON (a dependency at module level: its annotation must resolve)."""
    try:
        return json_format.Parse(await request.body(), Payloads())
    except json_format.ParseError as err:
        raise HTTPException(400, f"not a Payloads JSON document: {err}") from None


def create_app(config: CodecConfig) -> FastAPI:
    codec = EncryptionCodec(config.keyring, reload=config.reload)
    app = FastAPI(title="Continuum codec endpoint", docs_url=None, redoc_url=None)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=list(config.origins),
        allow_methods=["POST"],
        allow_headers=["Content-Type", "X-Namespace", "Authorization"],
        # The UI's "include cross-origin credentials" option sends cookies along.
        allow_credentials=True,
    )
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
