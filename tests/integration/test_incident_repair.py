"""The incident repair job on the real stack (dev server, reference ERP and CRM, business worker)
with a real ops worker process: retry after an ERP outage, canary stop, reset of a NeedsAttention
order to a safe point, and a job that outlives its ops worker; rows counted in the systems' own
databases."""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path

from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import ResetActivityRequest
from temporalio.client import Client, WorkflowExecutionStatus

from activities.incidents import observe
from continuum.order_client import OrderClient
from continuum.stack import Stack
from continuum.supervisor import ManagedProcess
from domain.incidents.contract import Action, ItemOutcome, RepairProgress
from domain.incidents.contract import workflow_id as workflow_id_of_job
from domain.orders.contract import workflow_id
from domain.orders.models import OrderStatus
from store.incidents import AuditEvent, IncidentAudit
from tests.integration.conftest import crm_deals, erp_counts, set_faults
from tests.integration.repair_helpers import (
    AT_ONCE,
    ONE_OF_EACH,
    apply,
    audit,
    client,
    erp_rows,
    finished,
    needs_attention,
    ops_worker,
    outcomes,
    plan_of,
    retrying,
    start_delivering,
    start_ops_worker,
    target,
    until,
    until_status,
)
from tests.integration.test_cli import cli

__all__ = ["audit", "client", "ops_worker"]  # fixtures, imported for pytest


async def test_retry_after_an_erp_outage_canary_then_the_rest_each_order_completes_once(
    stack: Stack,
    ops_worker: ManagedProcess,
    orders: OrderClient,
    client: Client,
    audit: IncidentAudit,
) -> None:
    ids = await start_delivering(orders, 4, "C-100")
    wids = [workflow_id(oid) for oid in ids]
    # The ERP goes down as the carrier reports: each confirmation fails and, as the ERP's
    # Retry-After asks, waits five minutes for its next attempt.
    set_faults(stack, "erp", outage_seconds=600, retry_after_seconds=300)
    try:
        for oid in ids:
            await orders.deliver(oid, carrier="test-carrier")
        for wid in wids:
            await until(f"{wid} to retry", partial(retrying, client, wid, "confirm_delivery"))

        # While the ERP is still down, the canary fails: the job stops, the rest is untouched.
        early = plan_of(
            Action.RETRY,
            [await target(client, w, "confirm_delivery") for w in wids[:2]],
            params={"check_within": "3s"},
        )
        stopped = await finished(client, await apply(client, early, audit))
    finally:
        set_faults(stack, "erp")
    assert stopped.canary_passed is False and stopped.stopped
    assert outcomes(stopped) == {wids[0]: ItemOutcome.NOT_FIXED, wids[1]: ItemOutcome.SKIPPED}
    assert "confirm_delivery still pending" in stopped.results[0].detail
    assert "not applied: the canary failed" in stopped.results[1].detail

    # The ERP is back; the orders would wait up to five minutes. Plan the retry of all four.
    targets = [await target(client, w, "confirm_delivery") for w in wids]
    next_try = {
        w: (await observe.describe(client, w)).pending_step("confirm_delivery")[0].next_retry
        for w in wids
    }
    plan = plan_of(Action.RETRY, targets, canary=1, rate_per_second=2.0)
    # Between plan and apply, someone else retries the last order, and it completes.
    execution = WorkflowExecution(workflow_id=wids[3], run_id=targets[3].run_id)
    await client.workflow_service.reset_activity(
        ResetActivityRequest(namespace="default", execution=execution, type="confirm_delivery")
    )
    await until_status(orders, ids[3], OrderStatus.COMPLETED)

    progress = await finished(client, await apply(client, plan, audit))
    assert progress.canary_passed is True and progress.stopped is None
    assert outcomes(progress) == {
        wids[0]: ItemOutcome.FIXED,
        wids[1]: ItemOutcome.FIXED,
        wids[2]: ItemOutcome.FIXED,
        wids[3]: ItemOutcome.SKIPPED,
    }
    [why] = [r.detail for r in progress.results if r.workflow_id == wids[3]]
    assert why == "skipped: its status is now Completed (the plan saw AwaitingDelivery)"
    for oid, wid in zip(ids, wids, strict=True):
        result = await orders.status(oid)
        assert result.status is OrderStatus.COMPLETED, result.reason
        # Done now, not when the ERP's Retry-After would have let it try again.
        retry_at = next_try[wid]
        assert retry_at is not None and result.steps[-1].at < retry_at
        assert erp_counts(stack, oid) == ONE_OF_EACH
        [deal] = crm_deals(stack, oid)
        assert deal["dealstage"] == "closedwon"

    entries = audit.entries(plan_id=plan.plan_id)
    events = [e.event for e in entries]
    assert events[:3] == [AuditEvent.APPLY_REQUESTED, AuditEvent.STARTED, AuditEvent.ITEM]
    assert AuditEvent.CANARY in events and events[-1] == AuditEvent.FINISHED
    items = {e.workflow_id: e.outcome for e in entries if e.event == AuditEvent.ITEM}
    assert items == {w: o.value for w, o in outcomes(progress).items()}


async def test_reset_of_a_needs_attention_order_runs_the_failed_undos_again_not_the_one_that_ran(
    stack: Stack,
    ops_worker: ManagedProcess,
    orders: OrderClient,
    client: Client,
    audit: IncidentAudit,
) -> None:
    # The card is declined; marking the deal lost (CRM) works, cancelling the sales order and
    # releasing the stock (ERP) are refused.
    oid = await needs_attention(stack, orders, "tok_declined", OrderStatus.COMPENSATING.value)
    before = await orders.status(oid)
    assert (before.reason or "").endswith("could not undo: cancel sales order, release stock"), (
        before
    )
    assert erp_rows(stack, "reservations", oid) == ["active"]
    assert erp_rows(stack, "sales_orders", oid) == ["open"]

    plan = plan_of(Action.RESET, [await target(client, workflow_id(oid))])
    progress = await finished(client, await apply(client, plan, audit))

    [result] = progress.results
    assert result.outcome is ItemOutcome.FIXED, result.detail
    assert "runs cancel_sales_order, release_stock again" in result.detail
    assert "keeps everything up to set_deal_stage" in result.detail
    after = await orders.status(oid)
    assert after.status is OrderStatus.COMPENSATED, after.reason
    # Nothing lost, nothing doubled: one reservation (released), one sales order (cancelled),
    # no payment, and one deal, lost.
    assert erp_counts(stack, oid) == {
        "reservations": 1,
        "sales_orders": 1,
        "payments": 0,
        "shipments": 0,
        "invoices": 0,
    }
    assert erp_rows(stack, "reservations", oid) == ["released"]
    assert erp_rows(stack, "sales_orders", oid) == ["cancelled"]
    [deal] = crm_deals(stack, oid)
    assert deal["dealstage"] == "closedlost"


async def test_reset_before_the_failed_payment_completes_the_order_with_nothing_twice(
    stack: Stack,
    ops_worker: ManagedProcess,
    orders: OrderClient,
    client: Client,
    audit: IncidentAudit,
) -> None:
    # From the deal on, the ERP and the CRM refuse everything: the capture fails, and so does
    # every undo. No undo ran, so the reset may go back to before the capture.
    oid = await needs_attention(stack, orders, "tok_visa", "upsert_deal")
    assert erp_counts(stack, oid)["payments"] == 0

    plan = plan_of(Action.RESET, [await target(client, workflow_id(oid))])
    progress = await finished(client, await apply(client, plan, audit))

    [result] = progress.results
    assert result.outcome is ItemOutcome.FIXED, result.detail
    # It keeps the three writes made at once, up to whichever of them completed last.
    assert "runs capture_payment" in result.detail
    assert any(f"up to {write}" in result.detail for write in AT_ONCE), result.detail
    assert "waits: AwaitingDelivery" in result.detail
    await orders.deliver(oid, carrier="test-carrier")
    await until_status(orders, oid, OrderStatus.COMPLETED)
    assert erp_counts(stack, oid) == ONE_OF_EACH
    assert erp_rows(stack, "payments", oid) == ["captured"]
    [deal] = crm_deals(stack, oid)
    assert deal["dealstage"] == "closedwon"


async def test_from_the_command_line_an_operator_finds_plans_applies_and_sees_it_done(
    stack: Stack,
    ops_worker: ManagedProcess,
    orders: OrderClient,
    client: Client,
    tmp_path: Path,
) -> None:
    """The issue's "done when": after an outage, find the orders in one command, plan a retry,
    see the dry run, apply it, see them complete; the audit shows each step."""
    ids = await start_delivering(orders, 3, "C-105")
    wids = [workflow_id(oid) for oid in ids]
    set_faults(stack, "erp", outage_seconds=600, retry_after_seconds=300)
    try:
        for oid in ids:
            await orders.deliver(oid, carrier="test-carrier")
        for wid in wids:
            await until(f"{wid} to retry", partial(retrying, client, wid, "confirm_delivery"))
    finally:
        set_faults(stack, "erp")
    where = "customer=C-105 retrying step=confirm_delivery"
    found = cli(stack, "incidents", "find", "--where", where, "--csv")
    assert found.returncode == 0, found.stderr
    assert sorted(r.split(",")[0] for r in found.stdout.strip().splitlines()[1:]) == sorted(wids)

    path = tmp_path / "retry.json"
    planned = cli(
        stack,
        "incidents", "plan", "retry", "--where", where, "--by", "olga",
        "--reason", "ERP back after the outage", "--ticket", "INC-9", "--out", str(path),
    )  # fmt: skip
    assert planned.returncode == 0, planned.stderr
    assert "Nothing changed" in planned.stdout
    plan_id = json.loads(path.read_text())["plan_id"]

    applied = cli(stack, "incidents", "apply", str(path), "--by", "olga")
    assert applied.returncode == 0, applied.stderr
    progress = await finished(client, workflow_id_of_job(plan_id))
    assert outcomes(progress) == dict.fromkeys(wids, ItemOutcome.FIXED)
    status = cli(stack, "incidents", "status", plan_id, "--json")
    assert status.returncode == 0, status.stderr
    shown = json.loads(status.stdout)
    assert {r["workflow_id"]: r["outcome"] for r in shown["results"]} == dict.fromkeys(
        wids, "fixed"
    )
    for oid in ids:
        assert (await orders.status(oid)).status is OrderStatus.COMPLETED
        assert erp_counts(stack, oid) == ONE_OF_EACH

    audit = json.loads(cli(stack, "incidents", "audit", "--plan", plan_id, "--json").stdout)
    events = [e["event"] for e in audit]
    assert events[:3] == ["planned", "apply-requested", "started"]
    assert events.count("item") == 3 and "canary" in events and events[-1] == "finished"


async def test_the_job_outlives_its_ops_worker(
    stack: Stack,
    ops_worker: ManagedProcess,
    orders: OrderClient,
    client: Client,
    audit: IncidentAudit,
) -> None:
    ids = await start_delivering(orders, 3, "C-102")
    wids = [workflow_id(oid) for oid in ids]
    targets = [await target(client, w) for w in wids]
    # One order every two seconds: the worker dies while the job waits between two of them.
    plan = plan_of(
        Action.SIGNAL,
        targets,
        params={"signal": "delivered", "carrier": "ops-desk"},
        rate_per_second=0.5,
    )
    job = await apply(client, plan, audit)

    async def some_done() -> bool:
        progress = await client.get_workflow_handle(job).query(
            "progress", result_type=RepairProgress
        )
        return bool(progress.done >= 1)

    await until("the canary's verdict", some_done)
    ops_worker.kill()
    described = await client.get_workflow_handle(job).describe()
    assert described.status is WorkflowExecutionStatus.RUNNING
    restarted = start_ops_worker(stack)
    try:
        # A step lost with the killed worker comes back after its 30 s start-to-close timeout.
        progress = await finished(client, job, within=180)
    finally:
        restarted.stop()
    assert progress.canary_passed is True
    assert outcomes(progress) == dict.fromkeys(wids, ItemOutcome.FIXED)
    for oid in ids:
        await until_status(orders, oid, OrderStatus.COMPLETED)
        assert erp_counts(stack, oid) == ONE_OF_EACH
        assert len(crm_deals(stack, oid)) == 1
