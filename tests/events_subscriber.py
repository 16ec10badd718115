"""A subscriber to Continuum's business-event webhooks, as a customer would write one: a real
HTTP server (uvicorn) on a port of its own that checks each request's signature with the
gateway's scheme, reads the CloudEvent (binary or structured), and keeps what it received.

It can be taken down (the port closes: connections are refused) and brought up again on the
same port, or told to answer 503 for a while.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from cloudevents.core.bindings import http as ce_http
from cloudevents.core.formats.json import JSONFormat
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from connectors.events.cloudevent import from_cloudevent
from continuum.supervisor import free_port
from domain.events.models import BusinessEvent
from domain.signatures import HEADER, SignatureError, verify


@dataclass
class Received:
    event: BusinessEvent
    headers: dict[str, str]


@dataclass
class Subscriber:
    secret: str
    port: int = field(default_factory=free_port)
    received: list[Received] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # why a request was refused
    failing: bool = False  # answer 503 to everything
    _server: uvicorn.Server | None = None
    _task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/events"

    async def _events(self, request: Request) -> JSONResponse:
        body = await request.body()
        if self.failing:
            return JSONResponse({"error": "busy"}, status_code=503)
        try:
            verify(self.secret, request.headers.get(HEADER), body, time.time())
        except SignatureError as err:
            self.refused.append(err.code)
            return JSONResponse({"error": err.code}, status_code=401)
        message = ce_http.HTTPMessage(headers=dict(request.headers), body=body)
        event = from_cloudevent(ce_http.from_http(message, JSONFormat()))  # type: ignore[arg-type]
        self.received.append(Received(event, dict(request.headers)))
        return JSONResponse({"ok": True})

    async def up(self) -> None:
        app = Starlette(routes=[Route("/events", self._events, methods=["POST"])])
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        self._server = uvicorn.Server(config)
        self._task = asyncio.create_task(self._server.serve())
        deadline = time.monotonic() + 10
        while not self._server.started:
            if self._task.done() or time.monotonic() > deadline:
                raise RuntimeError(f"the subscriber did not start on port {self.port}")
            await asyncio.sleep(0.02)

    async def down(self) -> None:
        if self._server is None or self._task is None:
            return
        self._server.should_exit = True
        await asyncio.wait_for(self._task, 10)
        self._server = self._task = None

    def ids(self) -> list[str]:
        return [r.event.id for r in self.received]

    def by_subject(self) -> dict[str, list[int]]:
        found: dict[str, list[int]] = {}
        for r in self.received:
            found.setdefault(r.event.subject, []).append(r.event.sequence)
        return found

    async def wait_for(self, count: int, within: float = 30.0) -> None:
        deadline = time.monotonic() + within
        while len(self.received) < count:
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{len(self.received)} of {count} events arrived: {self.ids()}"
                )
            await asyncio.sleep(0.05)

    def data(self) -> list[dict[str, Any]]:
        return [r.event.data for r in self.received]
