"""A process that emits business events through the real contract (workflows/events.py: Events,
the hand-over local activity, signal-with-start of its publisher), for the events tests: a few
steps, a pause between groups of them so that the events go over in several hand-overs."""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel
from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.events import Events

PATCH = "business-events-test"


class Steps(BaseModel):
    subject: str
    steps: int
    per_handover: int = 3
    pause: timedelta = timedelta(milliseconds=200)


@workflow.defn(name="EventsTestProcess")
class EmittingProcess:
    @workflow.run
    async def run(self, plan: Steps) -> int:
        events = Events(workflow.info().workflow_id, "/continuum/tests", PATCH)
        for step in range(1, plan.steps + 1):
            data = {"subject": plan.subject, "step": step, "email": "ada@example.com"}
            events.emit("test.step.v1", plan.subject, data)
            if step % plan.per_handover == 0:
                await workflow.sleep(plan.pause)
        await events.flush()
        return events.sequence
