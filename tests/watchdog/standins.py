"""Stand-in processes for the watchdog's tests: workflows of the real process types (their names,
search attributes and statuses) that park, retry a step, fail their workflow task or close with a
status, so each rule meets the state it looks for on a real dev server."""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel
from temporalio import activity, workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from domain.orders.contract import WORKFLOW_NAME as ORDER_WORKFLOW
    from workflows import search_attributes as sa


class Act(BaseModel):
    """close: end with this OrderStatus; retry: retry reserve_stock for ever; neither: break."""

    close: str | None = None
    retry: bool = False


@activity.defn(name="reserve_stock")
async def reserve_stock(request: Act) -> Act:
    raise RuntimeError("ERP answered 503: Service Unavailable")


@workflow.defn(name=ORDER_WORKFLOW)
class StandInOrder:
    """Closes with the given OrderStatus, or retries a step for ever, or breaks its task."""

    @workflow.run
    async def run(self, what: Act) -> str:
        if what.close is not None:
            workflow.upsert_search_attributes([sa.ORDER_STATUS.value_set(what.close)])
            return what.close
        if what.retry:
            await workflow.execute_activity(
                reserve_stock,
                what,
                start_to_close_timeout=timedelta(seconds=5),
                schedule_to_close_timeout=timedelta(hours=1),
                retry_policy=RetryPolicy(maximum_interval=timedelta(seconds=1)),
            )
            return "done"
        raise RuntimeError("a workflow task that fails every time (as a broken deploy does)")
