"""The gateway's error answers: `{"error": {"code": ..., "message": ...}}` with the right status."""

from __future__ import annotations

import json

from fastapi.responses import JSONResponse


class GatewayError(Exception):
    """A request the gateway refuses; `code` names the problem, `message` explains it."""

    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}

    def response(self) -> JSONResponse:
        return error_response(self.status, self.code, self.message, self.headers)


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        {"error": {"code": code, "message": message}}, status_code=status, headers=headers
    )


def error_body(code: str, message: str) -> str:
    return json.dumps({"error": {"code": code, "message": message}})
