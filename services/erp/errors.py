"""The ERP's refusals, each with the HTTP status and stable code the API answers with.

Body shape: `{"error": {"code": "InsufficientStock", "message": "..."}}`. 4xx answers to a
write are stored under its idempotency key like a success; 5xx never are.
"""

from __future__ import annotations

import json


class ErpError(Exception):
    def __init__(
        self, status: int, code: str, message: str, *, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}

    def body(self) -> bytes:
        return error_body(self.code, self.message)


def error_body(code: str, message: str) -> bytes:
    return json.dumps({"error": {"code": code, "message": message}}).encode()


def validation(message: str) -> ErpError:
    return ErpError(400, "ValidationError", message)


def not_found(kind: str, record_id: str) -> ErpError:
    return ErpError(404, "NotFound", f"{kind} {record_id} does not exist")


def invalid_state(kind: str, record_id: str, state: str, action: str) -> ErpError:
    return ErpError(422, "InvalidState", f"cannot {action} {kind} {record_id}: it is {state}")


def business(code: str, message: str) -> ErpError:
    """A business rule refused the request (422): retrying the same request won't help."""
    return ErpError(422, code, message)
