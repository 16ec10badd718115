"""The live board (`/board`, and `/board.json`): process success against the 98 % line, processing
time against the manual baseline, throughput, task-queue backlog and the alerts that fire now.

For everyone signed in to the inbox. The page reloads itself (a meta refresh: no script, the
gateway's Content-Security-Policy stays as strict as it is). The figures come from
`continuum.board`, which reads them with the same definitions as the daily report and the
watchdog; one reading serves every viewer for half the refresh interval, so a wall of open boards
costs Temporal no more than one.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from continuum.board import BoardReader
from domain.figures import Board, BoardConfig
from services.gateway.inbox import Pages, templates
from services.gateway.temporal import Temporal


def _percent(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value * 100:.{digits}f} %"


def _change(value: float | None) -> str:
    """−0.62 → "−62 %": faster than by hand is negative."""
    if value is None:
        return "—"
    sign = "−" if value < 0 else "+"
    return f"{sign}{abs(value) * 100:.0f} %"


def _span(seconds: float | None) -> str:
    """A duration in its two largest units: 45.2 s, 12 min 5 s, 3 h 20 min, 2 d 4 h."""
    if seconds is None:
        return "—"
    if seconds < 60:
        return f"{seconds:.1f} s"
    whole = round(seconds)
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60), ("s", 1)):
        if whole >= size:
            parts.append(f"{whole // size} {unit}")
            whole %= size
    return " ".join(parts[:2])


templates.env.filters["percent"] = _percent
templates.env.filters["change"] = _change
templates.env.filters["span"] = _span


def _utc_now() -> datetime:
    return datetime.now(UTC)


class BoardDesk:
    """One reading of the figures at a time, kept for half the refresh interval."""

    def __init__(
        self,
        temporal: Temporal,
        config: BoardConfig,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = _utc_now,
    ) -> None:
        self.temporal = temporal
        self.config = config
        self.clock = clock
        self.now = now
        self.max_age = config.refresh_seconds / 2
        self._lock = asyncio.Lock()
        self._read: tuple[float, Board] | None = None

    async def board(self) -> Board:
        async with self._lock:
            if self._read and self.clock() - self._read[0] < self.max_age:
                return self._read[1]
            try:
                board = await BoardReader(self.temporal.client, self.config).read(self.now())
            except RuntimeError as err:  # the lazy client never connected
                board = Board(
                    as_of=self.now(),
                    refresh_seconds=self.config.refresh_seconds,
                    target=self.config.target,
                    notes=[f"Temporal cannot be reached: {err}"],
                )
            self._read = (self.clock(), board)
            return board


def board_router(pages: Pages, desk: BoardDesk) -> APIRouter:
    router = APIRouter(tags=["board"], include_in_schema=False)

    @router.get("/board", response_class=HTMLResponse)
    async def board_page(request: Request) -> Response:
        if await pages.signed_in(request) is None:
            return pages.to_login(request)
        return pages.render(request, "board.html", {"board": await desk.board()})

    @router.get("/board.json")
    async def board_json(request: Request) -> Response:
        if await pages.signed_in(request) is None:
            return JSONResponse(
                {"error": {"code": "NotSignedIn", "message": "sign in to the inbox first"}},
                status_code=401,
            )
        return JSONResponse((await desk.board()).model_dump(mode="json"))

    return router
