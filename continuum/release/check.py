"""`continuum release check`: replay the cluster's live histories against the working tree.

The recorded histories in tests/histories cover the paths someone recorded; this covers what
is running now. For each workflow type the working tree defines: every running process (up to
a limit) and a sample of recently closed ones are replayed with the `Replayer`; each failure
is reported with its workflow id and the first diverging event in words. Running processes of
a type the working tree no longer defines are failures too: a deploy would strand them.
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator, Sequence
from datetime import datetime

from pydantic import BaseModel
from temporalio import workflow
from temporalio.client import Client, WorkflowHistory
from temporalio.converter import DataConverter
from temporalio.worker import Replayer

from continuum.release.histories import (
    Live,
    Sample,
    live_histories,
    running_count,
    unknown_running,
)
from continuum.release.words import diverging_event


class Divergence(BaseModel):
    workflow_id: str
    run_id: str
    running: bool
    event_id: int | None
    words: str


class TypeReport(BaseModel):
    workflow_type: str
    running: int  # running in the cluster
    replayed_running: int = 0
    replayed_closed: int = 0
    failures: list[Divergence] = []

    @property
    def limited(self) -> bool:
        return self.replayed_running < self.running


class CheckReport(BaseModel):
    namespace: str
    checked_at: datetime
    types: list[TypeReport]
    unknown: dict[str, int] = {}  # running processes of types the working tree lacks

    @property
    def failures(self) -> int:
        return sum(len(t.failures) for t in self.types) + sum(self.unknown.values())

    @property
    def ok(self) -> bool:
        return self.failures == 0


def workflow_types(workflows: Sequence[type]) -> list[str]:
    names = [workflow._Definition.must_from_class(cls).name for cls in workflows]
    return [n for n in names if n is not None]


async def replay_live(
    client: Client,
    replayer: Replayer,
    types: Sequence[str],
    sample: Sample,
    now: datetime,
) -> AsyncIterator[tuple[Live, BaseException | None]]:
    """Each live history with its replay failure (None when it replayed)."""
    order: deque[Live] = deque()

    async def histories() -> AsyncIterator[WorkflowHistory]:
        async for live in live_histories(client, types, sample, now):
            order.append(live)
            yield live.history

    async with replayer.workflow_replay_iterator(histories()) as results:
        async for result in results:
            yield order.popleft(), result.replay_failure


async def check(
    client: Client,
    workflows: Sequence[type],
    converter: DataConverter,
    sample: Sample,
    now: datetime,
) -> CheckReport:
    types = workflow_types(workflows)
    reports = {
        t: TypeReport(workflow_type=t, running=await running_count(client, t)) for t in types
    }
    replayer = Replayer(workflows=list(workflows), data_converter=converter)
    async for live, failure in replay_live(client, replayer, types, sample, now):
        report = reports[live.workflow_type]
        if live.running:
            report.replayed_running += 1
        else:
            report.replayed_closed += 1
        if failure is not None:
            event_id, words = diverging_event(failure, live.history.events)
            report.failures.append(
                Divergence(
                    workflow_id=live.workflow_id,
                    run_id=live.run_id,
                    running=live.running,
                    event_id=event_id,
                    words=words,
                )
            )
    return CheckReport(
        namespace=client.namespace,
        checked_at=now,
        types=list(reports.values()),
        unknown=dict(await unknown_running(client, types)),
    )
