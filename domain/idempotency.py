"""Idempotency keys come from business keys, so a retried or replayed step is recognised."""

from __future__ import annotations


def step_key(order_id: str, step: str) -> str:
    return f"{order_id}:{step}"
