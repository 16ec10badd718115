"""Every business event type Continuum publishes, and the model of its data: one dictionary that
merges each process's `TYPES` (a type named twice is a mistake this module refuses at import)."""

from __future__ import annotations

from pydantic import BaseModel

from domain.events import alerts, approvals, orders, purchases, sync

_BY_PROCESS: list[dict[str, type[BaseModel]]] = [
    orders.TYPES,
    approvals.TYPES,
    purchases.TYPES,
    sync.TYPES,
    alerts.TYPES,
]


def _merge(parts: list[dict[str, type[BaseModel]]]) -> dict[str, type[BaseModel]]:
    merged: dict[str, type[BaseModel]] = {}
    for part in parts:
        if twice := sorted(set(merged) & set(part)):
            raise ValueError(f"event type {', '.join(twice)} is defined twice")
        merged.update(part)
    return merged


TYPES: dict[str, type[BaseModel]] = _merge(_BY_PROCESS)
