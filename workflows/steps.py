"""Activities called by reference: a step is an activity method (`ErpActivities.reserve_stock`),
so mypy checks its request and result where the workflow calls it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from pydantic import BaseModel

A = TypeVar("A", bound=BaseModel)
R = TypeVar("R", bound=BaseModel)

# An activity method of an activity class: (self, request) -> result.
Step = Callable[[Any, A], Awaitable[R]]


def step_name(step: Step[Any, Any]) -> str:
    """The step's activity name: every activity method is registered under its own name
    (tests/workflows/test_contracts.py checks it), which tracking and summaries show."""
    return step.__name__
