"""Tryton's failures as `domain.errors`: its business refusals (UserError, UserWarning) are never
retried; 429/502/503/504 and a ConcurrencyException are, with the server's Retry-After (seconds
or an HTTP date, read by `connectors.http_errors`); other 5xx are Tryton bugs a retry repeats."""

from __future__ import annotations

from typing import Any

import httpx

from connectors.http_errors import parse_retry_after, transient_error
from connectors.tryton.wire import SYSTEM, TRANSIENT_STATUSES, loads
from domain.errors import (
    BusinessRuleError,
    IntegrationError,
    InvalidRequestError,
    NotFoundError,
    TransientError,
)

# Tryton locks the API login for a while after failed attempts; it does not say how long.
LOGIN_LOCKOUT_SECONDS = 300.0


class TrytonWarning(BusinessRuleError):
    """A UserWarning: Tryton asks the user to confirm; `name` is what acknowledging it takes."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(SYSTEM, "UserWarning", message)
        self.name = name


class Unauthorized(Exception):
    """JSON-RPC answered 401: the session expired or was revoked."""


def rest_error(method: str, path: str, response: httpx.Response) -> IntegrationError:
    """The domain error for an HTTP error answer (REST, or JSON-RPC refused at the HTTP level)."""
    status = response.status_code
    message: str | None = None
    try:
        body = loads(response.content)
    except ValueError:
        body = None
    if isinstance(body, dict) and body.get("message"):
        message = str(body["message"])
        if body.get("description"):
            message = f"{message} {body['description']}".strip()
    where = f"{method} {path}"
    if status == 400 and message is not None:
        # UserError / UserWarning: Tryton refused on business grounds.
        return BusinessRuleError(SYSTEM, "UserError", message, status=status)
    if status == 401:
        return InvalidRequestError(
            SYSTEM, "Unauthorized", f"Tryton refused the REST application key ({where})", status=401
        )
    if status == 403:
        return InvalidRequestError(
            SYSTEM, "Forbidden", message or f"access denied by Tryton ({where})", status=status
        )
    if status == 404:
        return NotFoundError(SYSTEM, "NotFound", message or f"not found ({where})", status=status)
    if status in TRANSIENT_STATUSES:
        return transient_error(
            SYSTEM,
            status,
            "Unavailable" if status != 429 else "RateLimited",
            message or f"Tryton answered {status} ({where})",
            response.headers,
        )
    if status >= 500:
        text = response.text.strip()[:300]
        return InvalidRequestError(
            SYSTEM, "ServerError", f"Tryton failed on {where}: {text}", status=status
        )
    return InvalidRequestError(
        SYSTEM, f"HTTP{status}", message or f"Tryton answered {status} ({where})", status=status
    )


def login_error(login: str, response: httpx.Response) -> IntegrationError:
    """The domain error for a refused `common.db.login` (status ≥ 400)."""
    status = response.status_code
    if status == 429:
        return TransientError(
            SYSTEM,
            "LoginRateLimited",
            "Tryton locked the API login after failed attempts",
            status=429,
            retry_after=parse_retry_after(response.headers.get("retry-after"))
            or LOGIN_LOCKOUT_SECONDS,
        )
    if status in (401, 403):
        return InvalidRequestError(
            SYSTEM, "LoginFailed", f"Tryton refused the login {login!r}", status=status
        )
    return rest_error("POST", "rpc common.db.login", response)


def rpc_error(method: str, error: Any) -> IntegrationError:
    """The domain error for a JSON-RPC `error`: `[kind, args]` as Tryton's dispatcher sends it."""
    kind = error[0] if isinstance(error, list | tuple) and error else str(error)
    args = error[1] if isinstance(error, list | tuple) and len(error) > 1 else None
    if kind == "UserError":
        message, description = [*list(args or []), "", ""][:2]
        text = f"{message} {description}".strip()
        return BusinessRuleError(SYSTEM, "UserError", text or "Tryton refused")
    if kind == "UserWarning":
        # (name, message, description): a warning the API user has no way to acknowledge.
        parts = [*list(args or []), "", "", ""]
        text = f"{parts[1]} {parts[2]}".strip()
        return TrytonWarning(str(parts[0]), text or "Tryton warned")
    if kind == "ConcurrencyException":
        return TransientError(SYSTEM, "Concurrency", str(args or "record changed meanwhile"))
    if kind == "LoginException":
        return InvalidRequestError(SYSTEM, "LoginRequired", f"Tryton asked for login: {args}")
    return InvalidRequestError(SYSTEM, "ServerError", f"Tryton failed on {method}: {kind}")
