"""Read an order from a JSON file, naming exactly what is wrong with a bad one."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import ValidationError

from domain.orders.models import Order
from domain.orders.rules import describe, validate_order


class OrderFileError(ValueError):
    pass


def load_order(path: Path) -> Order:
    try:
        raw = path.read_text()
    except OSError as err:
        raise OrderFileError(f"cannot read {path}: {err.strerror}") from None
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as err:
        raise OrderFileError(
            f"{path} is not valid JSON: {err.msg} at line {err.lineno} column {err.colno}"
        ) from None
    try:
        order = Order.model_validate(data)
    except ValidationError as err:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(top level)'}: {e['msg']}"
            for e in err.errors()
        )
        raise OrderFileError(f"{path} is not a valid order: {problems}") from None
    if violations := validate_order(order):
        raise OrderFileError(f"{path} is not a valid order: {describe(violations)}")
    return order
