"""IncidentRepair: apply a signed plan's action to its frozen list of processes, and say honestly
what became of each.

The list is the plan's, never a query run again. The canary goes first (the first `canary`
processes acted on), each re-checked with the action's own success check; if one is not fixed the
job stops and leaves the rest alone. Then the rest, at most `rate_per_second`, and each of them
re-checked. A process that moved since the plan is skipped with the reason. The plan's signature
and validity were verified by the client before it started this job. Progress: the `progress`
query, the ProcessStatus and StateSince search attributes, and the Web UI's current details.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from pydantic import ValidationError
from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.incidents.actions import RepairActivities
    from domain.incidents.checks import STEP_ACTIONS, Applied, Verdict, check, next_look
    from domain.incidents.contract import (
        WORKFLOW_NAME,
        ItemOutcome,
        ItemResult,
        Message,
        PlanItem,
        RepairInput,
        RepairProgress,
    )
    from domain.incidents.params import check_within, params_problem
    from domain.incidents.steps import Acted, ItemActed, ItemRequest, Look, LookRequest, Phase
    from workflows import search_attributes as sa
    from workflows.failures import reason
    from workflows.incidents.record import RepairAudit
    from workflows.policies import REPAIR_STEP

# Processes looked at again per activity: one answer stays well below Temporal's payload limit.
LOOK_BATCH = 100


@workflow.defn(name=WORKFLOW_NAME, failure_exception_types=[ValidationError])
class IncidentRepair:
    @workflow.init
    def __init__(self, input: RepairInput) -> None:
        plan = input.plan
        self._plan = plan
        self._progress = RepairProgress(
            plan_id=plan.plan_id, action=plan.action, total=len(plan.items), done=0
        )
        self._applied: dict[str, Applied] = {}
        self._audit = RepairAudit(plan.plan_id, plan.action, input.applied_by, self._progress)
        self._applied_by = input.applied_by
        self._phase_now = Phase.CANARY

    @workflow.query(name=Message.PROGRESS)
    def progress(self) -> RepairProgress:
        return self._progress

    @workflow.run
    async def run(self, input: RepairInput) -> RepairProgress:
        plan, items = self._plan, list(self._plan.items)
        if why := self._refusal():
            return await self._stop(why, items)
        if plan.canary > 0:
            self._phase(Phase.CANARY)
            canary, items = await self._canary(items)
            failed = [r for r in self._results(canary) if r.outcome is not ItemOutcome.FIXED]
            self._progress.canary_passed = not failed
            verdict = (
                "passed" if not failed else f"failed: {failed[0].workflow_id}: {failed[0].detail}"
            )
            await self._audit.items(self._applied)
            await self._audit.job("canary", f"canary of {len(canary)} {verdict}")
            if failed:
                return await self._stop(f"the canary {verdict}", items)
        self._phase(Phase.APPLYING)
        acted = await self._apply_paced(items)
        await self._audit.items(self._applied)
        self._phase(Phase.CHECKING)
        await self._recheck(acted)
        self._phase(Phase.DONE)
        await self._audit.items(self._applied)
        await self._audit.job("finished", self._totals())
        return self._progress

    def _refusal(self) -> str | None:
        plan = self._plan
        if workflow.now() > plan.created_at + plan.valid_for:
            return f"the plan expired at {(plan.created_at + plan.valid_for).isoformat()}"
        if plan.rate_per_second <= 0:
            return "the plan's rate_per_second must be above 0"
        return params_problem(plan.action, plan.params)

    async def _canary(self, items: list[PlanItem]) -> tuple[list[PlanItem], list[PlanItem]]:
        """Acts on items until `canary` of them were acted on (a skipped one does not count), and
        re-checks those; returns them and the items not yet touched."""
        canary: list[PlanItem] = []
        applied: list[PlanItem] = []
        taken = 0
        for item in items:
            if len(canary) >= self._plan.canary:
                break
            taken += 1
            acted = await self._act(item)
            if acted is not Acted.SKIPPED:
                canary.append(item)
            if acted is Acted.APPLIED:
                applied.append(item)
        await self._recheck(applied)
        return canary, items[taken:]

    async def _apply_paced(self, items: list[PlanItem]) -> list[PlanItem]:
        """Acts on the items in waves of about one second's worth at the plan's rate."""
        rate = self._plan.rate_per_second
        size = max(1, round(rate))
        interval = timedelta(seconds=size / rate)
        applied: list[PlanItem] = []
        for start in range(0, len(items), size):
            wave = items[start : start + size]
            began = workflow.now()
            outcomes = await asyncio.gather(*(self._act(item) for item in wave))
            applied += [
                i for i, acted in zip(wave, outcomes, strict=True) if acted is Acted.APPLIED
            ]
            wait = began + interval - workflow.now()
            if start + size < len(items) and wait > timedelta(0):
                await workflow.sleep(wait, summary="rate limit")
        return applied

    async def _act(self, item: PlanItem) -> Acted:
        plan, target = self._plan, item.target
        request = ItemRequest(
            plan_id=plan.plan_id,
            action=plan.action,
            params=plan.params,
            target=target,
            applied_by=self._applied_by,
            reason=plan.reason,
            ticket=plan.ticket,
        )
        try:
            acted: ItemActed = await workflow.execute_activity_method(
                RepairActivities.repair_item,
                request,
                summary=f"{plan.action.value} {target.workflow_id}",
                **REPAIR_STEP,
            )
        except ActivityError as err:
            self._result(target.workflow_id, ItemOutcome.FAILED, f"could not act: {reason(err)}")
            return Acted.FAILED
        if acted.acted is Acted.SKIPPED:
            self._result(target.workflow_id, ItemOutcome.SKIPPED, acted.detail)
        elif acted.acted is Acted.FAILED:
            self._result(target.workflow_id, ItemOutcome.FAILED, acted.detail)
        else:
            assert acted.applied is not None
            self._applied[target.workflow_id] = acted.applied
            if acted.verdict is not None:  # the action's own result is its check
                self._judge(target.workflow_id, acted.verdict, acted.detail)
        return acted.acted

    async def _recheck(self, items: list[PlanItem]) -> None:
        """Looks at the acted-on processes until each one's success check holds, or the plan's
        check window passes: then it is not fixed, with what the check saw last."""
        plan = self._plan
        waiting = {i.target.workflow_id: i for i in items if not self._has_result(i)}
        within = check_within(plan.action, plan.params)
        deadline = workflow.now() + within
        last: dict[str, Verdict] = {}
        wait = timedelta(0)
        while waiting:
            ids = list(waiting)
            for start in range(0, len(ids), LOOK_BATCH):
                batch = ids[start : start + LOOK_BATCH]
                looked = await workflow.execute_activity_method(
                    RepairActivities.look_again,
                    LookRequest(
                        processes=[Look(workflow_id=w) for w in batch],
                        completed_steps=plan.action in STEP_ACTIONS,
                    ),
                    summary=f"check {len(batch)} process(es)",
                    **REPAIR_STEP,
                )
                for wid, now, problem in zip(batch, looked.observed, looked.problems, strict=True):
                    if now is None:
                        last[wid] = Verdict(ok=False, detail=f"could not be seen: {problem}")
                        continue
                    last[wid] = check(
                        plan.action, plan.params, waiting[wid].target, self._applied[wid], now
                    )
                    if last[wid].ok:
                        self._judge(wid, last[wid], self._applied[wid].detail)
                        del waiting[wid]
            left = deadline - workflow.now()
            if not waiting or left <= timedelta(0):
                break
            wait = next_wait(wait, left)
            await workflow.sleep(wait, summary="wait for the success check")
        for wid in waiting:
            self._judge(wid, last[wid], f"after {within}")

    def _judge(self, workflow_id: str, verdict: Verdict, context: str) -> None:
        outcome = ItemOutcome.FIXED if verdict.ok else ItemOutcome.NOT_FIXED
        detail = f"{verdict.detail} ({context})" if context else verdict.detail
        self._result(workflow_id, outcome, detail)

    async def _stop(self, why: str, untouched: list[PlanItem]) -> RepairProgress:
        """Ends the job early: the items not acted on are skipped, saying why."""
        for item in untouched:
            self._result(item.target.workflow_id, ItemOutcome.SKIPPED, f"not applied: {why}")
        self._progress.stopped = why
        self._phase(Phase.STOPPED)
        await self._audit.items(self._applied)
        await self._audit.job("stopped", why)
        return self._progress

    def _result(self, workflow_id: str, outcome: ItemOutcome, detail: str) -> None:
        self._progress.results.append(
            ItemResult(workflow_id=workflow_id, outcome=outcome, detail=detail, at=workflow.now())
        )
        self._progress.done = len(self._progress.results)
        self._details()

    def _results(self, items: list[PlanItem]) -> list[ItemResult]:
        ids = {i.target.workflow_id for i in items}
        return [r for r in self._progress.results if r.workflow_id in ids]

    def _has_result(self, item: PlanItem) -> bool:
        return any(r.workflow_id == item.target.workflow_id for r in self._progress.results)

    def _phase(self, phase: Phase) -> None:
        self._phase_now = phase
        workflow.upsert_search_attributes(
            [sa.PROCESS_STATUS.value_set(phase.value), sa.STATE_SINCE.value_set(workflow.now())]
        )
        self._details()

    def _totals(self) -> str:
        counts = {o: 0 for o in ItemOutcome}
        for r in self._progress.results:
            counts[r.outcome] += 1
        return ", ".join(f"{n} {o.value}" for o, n in counts.items())

    def _details(self) -> None:
        p = self._progress
        phase = self._phase_now
        stopped = f"\n\n**Stopped:** {p.stopped}" if p.stopped else ""
        workflow.set_current_details(
            f"**{phase.value}** · {p.done} of {p.total} done: {self._totals()}{stopped}"
        )


def next_wait(wait: timedelta, left: timedelta) -> timedelta:
    return min(next_look(wait), left)
