"""Errors in HubSpot's shape: {status: "error", message, correlationId, category, errors?}.

A connector classifies on the HTTP status and `category`, so these must match what HubSpot sends.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class PropertyIssue:
    """One refused property value; `code` is HubSpot's, e.g. PROPERTY_DOESNT_EXIST."""

    name: str
    code: str
    message: str
    value: str | None = None


class CrmApiError(Exception):
    def __init__(
        self,
        status: int,
        category: str,
        message: str,
        *,
        errors: Sequence[Mapping[str, Any]] = (),
        context: Mapping[str, Any] | None = None,
        extra: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.category = category
        self.message = message
        self.errors = list(errors)
        self.context = dict(context or {})
        self.extra = dict(extra or {})
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "status": "error",
            "message": self.message,
            "correlationId": str(uuid.uuid4()),
            "category": self.category,
        }
        if self.errors:
            body["errors"] = self.errors
        if self.context:
            body["context"] = self.context
        body.update(self.extra)
        return body


def validation_error(message: str, *, where: str | None = None) -> CrmApiError:
    errors = [{"message": message, "code": "INVALID_INPUT", **({"in": where} if where else {})}]
    return CrmApiError(400, "VALIDATION_ERROR", message, errors=errors)


def property_errors(issues: Sequence[PropertyIssue], *, prefix: str = "") -> CrmApiError:
    """HubSpot embeds the per-property results as JSON in the message, and lists them in errors."""
    results = [
        {
            "isValid": False,
            "message": issue.message,
            "error": issue.code,
            "name": issue.name,
            **({"propertyValue": issue.value} if issue.value is not None else {}),
        }
        for issue in issues
    ]
    errors = [
        {
            "message": issue.message,
            "code": issue.code,
            "in": issue.name,
            "context": {"propertyName": [issue.name]},
        }
        for issue in issues
    ]
    message = f"{prefix}Property values were not valid: {json.dumps(results)}"
    return CrmApiError(400, "VALIDATION_ERROR", message, errors=errors)


def object_not_found(singular: str, ref: str, id_property: str | None = None) -> CrmApiError:
    by = id_property if id_property and id_property != "hs_object_id" else "id"
    return CrmApiError(
        404,
        "OBJECT_NOT_FOUND",
        f"No {singular} found with {by} {ref!r}",
        context={by: [ref]},
    )


def unique_conflict(singular: str, prop: str, value: str, existing_id: int) -> CrmApiError:
    return CrmApiError(
        409,
        "CONFLICT",
        f"{singular.capitalize()} already exists with {prop} {value!r}. Existing ID: {existing_id}",
        errors=[
            {
                "message": f"{prop} {value!r} is already used by {singular} {existing_id}",
                "code": "DUPLICATE_VALUE",
                "in": prop,
                "context": {"propertyName": [prop], "existingId": [str(existing_id)]},
            }
        ],
    )
