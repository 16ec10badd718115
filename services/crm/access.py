"""Who may call the CRM API and how often: bearer-token check and a per-token rate limiter.

A pure ASGI middleware on `/crm/...`, so a refused request never reaches a handler (nor its body
parsing), and the answers are HubSpot's: 401 INVALID_AUTHENTICATION, 429 RATE_LIMITS.
"""

from __future__ import annotations

import math
import re
import secrets
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from starlette.datastructures import Headers, MutableHeaders
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.crm.errors import CrmApiError

_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d+(\.\d+)?)\s*$")


@dataclass(frozen=True)
class RateLimit:
    requests: int
    seconds: float

    @classmethod
    def parse(cls, text: str) -> RateLimit:
        """`N/SECONDS`, e.g. `100/10` (HubSpot's private-app limit)."""
        match = _RATE.match(text)
        if not match or int(match[1]) < 1 or float(match[2]) <= 0:
            raise ValueError(f"rate limit must look like N/SECONDS, e.g. 100/10, not {text!r}")
        return cls(int(match[1]), float(match[2]))

    @property
    def policy_name(self) -> str:
        return {1.0: "SECONDLY", 10.0: "TEN_SECONDLY_ROLLING", 86400.0: "DAILY"}.get(
            self.seconds, "ROLLING"
        )


@dataclass(frozen=True)
class Decision:
    allowed: bool
    remaining: int
    retry_after: int  # whole seconds until a request would be let through; 0 when allowed


class SlidingWindowLimiter:
    """At most `requests` per key in any window of `seconds` (a rolling window, as HubSpot's)."""

    def __init__(self, limit: RateLimit, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self._clock = clock
        self._hits: dict[str, deque[float]] = {}

    def hit(self, key: str) -> Decision:
        now = self._clock()
        hits = self._hits.setdefault(key, deque())
        while hits and hits[0] <= now - self.limit.seconds:
            hits.popleft()
        if len(hits) >= self.limit.requests:
            wait = hits[0] + self.limit.seconds - now
            return Decision(False, 0, max(1, math.ceil(wait)))
        hits.append(now)
        return Decision(True, self.limit.requests - len(hits), 0)


class ApiAccessMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        token: str,
        limiter: SlidingWindowLimiter | None = None,
        prefix: str = "/crm/",
    ) -> None:
        self.app = app
        self.token = token
        self.limiter = limiter
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(self.prefix):
            await self.app(scope, receive, send)
            return
        presented = _bearer(Headers(scope=scope).get("authorization"))
        if presented is None:
            await _reply(scope, receive, send, _auth_error("Authentication credentials not found."))
            return
        if not secrets.compare_digest(presented.encode(), self.token.encode()):
            await _reply(
                scope, receive, send, _auth_error("The access token provided is not valid.")
            )
            return
        if self.limiter is None:
            await self.app(scope, receive, send)
            return

        decision = self.limiter.hit(presented)
        limit = self.limiter.limit
        headers = {
            "X-HubSpot-RateLimit-Max": str(limit.requests),
            "X-HubSpot-RateLimit-Remaining": str(decision.remaining),
            "X-HubSpot-RateLimit-Interval-Milliseconds": str(int(limit.seconds * 1000)),
        }
        if not decision.allowed:
            error = CrmApiError(
                429,
                "RATE_LIMITS",
                f"You have reached your {limit.policy_name.lower()} limit.",
                extra={"errorType": "RATE_LIMIT", "policyName": limit.policy_name},
                headers={**headers, "Retry-After": str(decision.retry_after)},
            )
            await _reply(scope, receive, send, error)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message).update(headers)
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _bearer(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return value.strip() or None


def _auth_error(message: str) -> CrmApiError:
    return CrmApiError(
        401,
        "INVALID_AUTHENTICATION",
        f"{message} This API expects a private app access token as `Authorization: Bearer`.",
    )


async def _reply(scope: Scope, receive: Receive, send: Send, error: CrmApiError) -> None:
    response = JSONResponse(error.body(), status_code=error.status, headers=error.headers)
    await response(scope, receive, send)
