"""Undo what a process did, newest first, when it cannot go on."""

from __future__ import annotations

import asyncio

from pydantic import BaseModel
from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from domain.orders.models import StepRecord
    from domain.orders.steps import StepName
    from workflows.policies import UNDO


class Saga:
    def __init__(self, subject: str) -> None:
        self.subject = subject
        self._undo: list[tuple[str, StepName, BaseModel]] = []

    def __bool__(self) -> bool:
        return bool(self._undo)

    def add(self, label: str, step: StepName, arg: BaseModel) -> None:
        self._undo.append((label, step, arg))

    async def unwind(self) -> list[StepRecord]:
        """Runs every undo, even after one fails; a failed one says why in its detail.

        Undo steps retry transient errors without limit (policies.UNDO), so only a refusal
        ends one, and a cancellation arriving meanwhile does not interrupt them.
        """
        done: list[StepRecord] = []
        for label, step, arg in reversed(self._undo):
            handle = workflow.start_activity(
                step.value, arg, summary=f"{label} {self.subject}", **UNDO
            )
            try:
                try:
                    await asyncio.shield(handle)
                except asyncio.CancelledError:
                    await handle
                done.append(StepRecord(step=label, at=workflow.now()))
            except ActivityError as err:
                why = err.cause.message if isinstance(err.cause, ApplicationError) else str(err)
                done.append(StepRecord(step=label, at=workflow.now(), detail=f"failed: {why}"))
        self._undo.clear()
        return done


def failed(records: list[StepRecord]) -> list[str]:
    return [r.step for r in records if r.detail.startswith("failed:")]
