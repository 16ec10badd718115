"""HTTP failures as `domain.errors`: what any HTTP connector (ERP, CRM) needs to classify them.

Retryable: 408, 423, 429, every 5xx, timeouts and connection failures (`TransientError`, with the
server's Retry-After when it sent one). Not retryable: 422 business rules, 404, 409, and any
other 4xx. Connectors never retry themselves; Temporal does, guided by this classification.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from domain.errors import (
    BusinessRuleError,
    ConflictError,
    IntegrationError,
    InvalidRequestError,
    NotFoundError,
    TransientError,
)

_DEFAULT_CODES = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    408: "RequestTimeout",
    409: "Conflict",
    422: "BusinessRule",
    429: "RateLimited",
}


_RETRYABLE_4XX = frozenset({408, 423, 429})


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: delay-seconds or an HTTP date; None if absent
    or unreadable. A date in the past means "now" (0.0)."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if math.isfinite(seconds) else None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def describe_body(body: Any) -> tuple[str | None, str | None]:
    """(code, message) from the error bodies met so far: ours `{"error": {"code", "message"}}`,
    HubSpot's `{"category", "message"}`, FastAPI's `{"detail": ...}`, or plain text."""
    if isinstance(body, Mapping):
        inner = body.get("error")
        if isinstance(inner, Mapping):
            return _text(inner.get("code")), _text(inner.get("message"))
        if "category" in body or "message" in body:
            code = body.get("category") or body.get("errorType")
            return _text(code), _text(body.get("message"))
        if "detail" in body:
            return None, _text(body["detail"])
    if isinstance(body, str) and body.strip():
        return None, body.strip()[:500]
    return None, None


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)


def transient_error(
    system: str, status: int, code: str, message: str, headers: Mapping[str, str] | None = None
) -> TransientError:
    """A retryable answer, carrying the wait the server asked for in Retry-After (seconds or an
    HTTP date); for connectors whose own rules decide which statuses are retryable."""
    retry_after = parse_retry_after((headers or {}).get("retry-after"))
    return TransientError(system, code, message, status=status, retry_after=retry_after)


def error_for_status(
    system: str,
    status: int,
    body: Any,
    headers: Mapping[str, str] | None = None,
    codes: Mapping[int, str] | None = None,
) -> IntegrationError:
    """The domain error for an HTTP error answer (status ≥ 400) and its parsed body; `codes`
    names a status the body does not name, in the system's own words (e.g. HubSpot's)."""
    code, message = describe_body(body)
    default = (codes or {}).get(status) or _DEFAULT_CODES.get(
        status, "ServerError" if status >= 500 else f"HTTP{status}"
    )
    code = code or default
    message = message or f"HTTP {status}"
    if status in _RETRYABLE_4XX or status >= 500:
        return transient_error(system, status, code, message, headers)
    kind: type[IntegrationError] = {
        422: BusinessRuleError,
        404: NotFoundError,
        409: ConflictError,
    }.get(status, InvalidRequestError)
    return kind(system, code, message, status=status)


def error_for_response(
    system: str, response: httpx.Response, codes: Mapping[int, str] | None = None
) -> IntegrationError:
    try:
        body: Any = response.json()
    except ValueError:
        body = response.text
    return error_for_status(system, response.status_code, body, response.headers, codes)


def raise_for_response(
    system: str, response: httpx.Response, codes: Mapping[int, str] | None = None
) -> None:
    if response.status_code >= 400:
        raise error_for_response(system, response, codes)


@contextmanager
def transport_errors(system: str) -> Iterator[None]:
    """Timeouts and connection failures become `TransientError`: the request may not have
    reached the server, or its answer was lost; a retry with the same idempotency key is safe."""
    try:
        yield
    except httpx.UnsupportedProtocol as err:
        # A bad URL in the configuration: no retry will fix it.
        raise InvalidRequestError(system, "BadUrl", str(err)) from err
    except httpx.TimeoutException as err:
        raise TransientError(system, "Timeout", f"{type(err).__name__}: {err}") from err
    except httpx.TransportError as err:
        raise TransientError(system, "ConnectionError", f"{type(err).__name__}: {err}") from err
