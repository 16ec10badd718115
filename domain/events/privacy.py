"""Personal fields in an event's data, by name at any depth: left out, or encrypted.

The process's history keeps them (encrypted by the codec); what leaves Continuum is decided here,
on delivery, by configuration (continuum/defaults/events.toml `[privacy]`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

# (event id, field name, value) → the value's encrypted form
Encrypt = Callable[[str, str, Any], Any]


class Privacy(BaseModel):
    """Personal fields in an event's data: left out, or encrypted with the codec's key."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    personal_fields: list[str] = ["name", "email", "phone", "address", "shipping_address"]
    mode: Literal["omit", "encrypt"] = "omit"


def protect(
    data: dict[str, Any], privacy: Privacy, event_id: str, encrypt: Encrypt | None = None
) -> dict[str, Any]:
    """A copy of `data` with every personal field (at any depth, in lists too) left out or
    encrypted; the rest unchanged."""
    personal = frozenset(privacy.personal_fields)
    if privacy.mode == "encrypt" and encrypt is None:
        raise ValueError("privacy mode 'encrypt' needs a codec key")

    def walk(value: Any) -> Any:
        if isinstance(value, dict):
            out: dict[str, Any] = {}
            for key, inner in value.items():
                if key not in personal:
                    out[key] = walk(inner)
                elif privacy.mode == "encrypt":
                    assert encrypt is not None
                    out[key] = encrypt(event_id, key, inner)
            return out
        if isinstance(value, list):
            return [walk(item) for item in value]
        return value

    result: dict[str, Any] = walk(data)
    return result
