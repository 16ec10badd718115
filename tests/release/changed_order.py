"""Two versions of a changed order for the release tests: a timer before the first step, once
plainly (a change that breaks running orders) and once behind `workflow.patched` (one that
does not). Only the tests import this module; the sandbox re-imports it, so it imports
nothing but what a workflow may."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain.orders.contract import WORKFLOW_NAME, OrderToCashInput
    from domain.orders.models import OrderResult
    from workflows.orders.order_to_cash import OrderToCash

PATCH = "release-test-pause"
PAUSE = timedelta(hours=1)


@workflow.defn(name=WORKFLOW_NAME)
class PausingOrderToCash(OrderToCash):
    """Waits an hour before doing anything: a new first command."""

    @workflow.init
    def __init__(self, input: OrderToCashInput) -> None:
        super().__init__(input)

    @workflow.run
    async def run(self, input: OrderToCashInput) -> OrderResult:
        await workflow.sleep(PAUSE)
        return await super().run(input)


@workflow.defn(name=WORKFLOW_NAME)
class PatchedPausingOrderToCash(OrderToCash):
    """The same change behind a patch: orders that started before it keep their old path."""

    @workflow.init
    def __init__(self, input: OrderToCashInput) -> None:
        super().__init__(input)

    @workflow.run
    async def run(self, input: OrderToCashInput) -> OrderResult:
        if workflow.patched(PATCH):
            await workflow.sleep(PAUSE)
        return await super().run(input)
