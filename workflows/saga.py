"""Undo what a process did, newest first, when it cannot go on.

Steps are activity methods called by reference (`ErpActivities.release_stock`), so that mypy
checks each undo's argument against the step it will run.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, TypeVar

from pydantic import BaseModel
from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from domain.orders.models import StepRecord
    from workflows.failures import reason
    from workflows.policies import UNDO
    from workflows.steps import Step, step_name

A = TypeVar("A", bound=BaseModel)

# What undoes a write: a label for people, the undo step, its request.
Undoing = tuple[str, Step[Any, Any], BaseModel]


class Saga:
    def __init__(self, subject: str) -> None:
        self.subject = subject
        self._undo: list[Undoing] = []

    def __bool__(self) -> bool:
        return bool(self._undo)

    def add(self, label: str, step: Step[A, Any], arg: A) -> None:
        self._undo.append((label, step, arg))

    @property
    def registered(self) -> int:
        return len(self._undo)

    def put_in_order(self, since: int, steps: Sequence[Step[Any, Any]]) -> None:
        """The undos registered since `since` in the order of `steps`, whatever order their
        writes (run at once) returned in: compensation then runs in the same order every time,
        the reverse of the business order, as it did when the writes ran one after another."""
        rank = {step_name(step): n for n, step in enumerate(steps)}
        tail = sorted(self._undo[since:], key=lambda undo: rank.get(step_name(undo[1]), len(rank)))
        self._undo[since:] = tail

    async def unwind(self) -> list[StepRecord]:
        """Runs every undo, even after one fails; a failed one says why in its detail.

        Undo steps retry transient errors without limit (policies.UNDO), so only a refusal
        ends one, and a cancellation arriving meanwhile does not interrupt them.
        """
        done: list[StepRecord] = []
        for label, step, arg in reversed(self._undo):
            handle = workflow.start_activity_method(
                step, arg, summary=f"{label} {self.subject}", **UNDO
            )
            try:
                try:
                    await asyncio.shield(handle)
                except asyncio.CancelledError:
                    await handle
                done.append(StepRecord(step=label, at=workflow.now()))
            except ActivityError as err:
                done.append(
                    StepRecord(step=label, at=workflow.now(), detail=f"failed: {reason(err)}")
                )
        self._undo.clear()
        return done


def failed(records: list[StepRecord]) -> list[str]:
    return [r.step for r in records if r.detail.startswith("failed:")]
