"""The incident audit on SQLite and PostgreSQL: each step is kept, a retried append is one row,
and the database itself refuses to change or delete what was written."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from domain.incidents.contract import (
    Action,
    ItemOutcome,
    ItemResult,
    Plan,
    PlanItem,
    RepairProgress,
    Target,
)
from store import Store
from store.incidents import AuditEvent, IncidentAudit

AT = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)


def plan(plan_id: str = "20261206-090000-abc123") -> Plan:
    items = [
        PlanItem(
            target=Target(
                workflow_id=f"order-O-{n}",
                run_id=f"run-{n}",
                workflow_type="OrderToCash",
                status="Checking",
                step="check_credit",
                attempt=7,
                last_failure="ERP 503",
            ),
            what="run check_credit now",
        )
        for n in (1, 2)
    ]
    return Plan(
        plan_id=plan_id,
        action=Action.RETRY,
        where="type=order retrying",
        query="WorkflowType = 'OrderToCash'",
        items=items,
        operator="olga",
        reason="ERP back after outage",
        ticket="INC-42",
        created_at=AT,
        signature="ab" * 32,
    )


def test_every_step_of_a_repair_is_kept_in_order(store: Store) -> None:
    audit = IncidentAudit(store)
    p = plan()
    assert audit.planned(p)
    audit.refused(p.plan_id, "mallory", "was changed after it was signed", p.action, AT)
    assert audit.apply_requested(p, "olga", AT + timedelta(minutes=1))
    assert audit.job(p.plan_id, AuditEvent.STARTED, "olga", "repair-" + p.plan_id)
    fixed = ItemResult(workflow_id="order-O-1", outcome=ItemOutcome.FIXED, at=AT, detail="done")
    skipped = ItemResult(
        workflow_id="order-O-2", outcome=ItemOutcome.SKIPPED, at=AT, detail="completed meanwhile"
    )
    assert audit.item(p.plan_id, p.action, "olga", fixed, run_id="run-1")
    assert audit.item(p.plan_id, p.action, "olga", skipped)
    progress = RepairProgress(
        plan_id=p.plan_id, action=p.action, total=2, done=2, results=[fixed, skipped]
    )
    assert audit.job(p.plan_id, AuditEvent.FINISHED, "olga", "1 fixed, 1 skipped", AT, progress)

    entries = audit.entries(plan_id=p.plan_id)
    assert [e.event for e in entries] == [
        "planned",
        "refused",
        "apply-requested",
        "started",
        "item",
        "item",
        "finished",
    ]
    planned = entries[0]
    assert (planned.actor, planned.reason, planned.ticket, planned.items, planned.at) == (
        "olga",
        "ERP back after outage",
        "INC-42",
        2,
        AT,
    )
    assert entries[1].actor == "mallory" and "changed" in (entries[1].detail or "")
    assert [(e.workflow_id, e.outcome, e.detail) for e in entries[4:6]] == [
        ("order-O-1", "fixed", "done"),
        ("order-O-2", "skipped", "completed meanwhile"),
    ]
    assert entries[4].run_id == "run-1"
    assert audit.plan(p.plan_id) == p  # the signed plan, whole
    assert audit.plan("no-such-plan") is None


def test_a_retried_append_is_one_row_and_a_refusal_is_kept_each_time(store: Store) -> None:
    audit = IncidentAudit(store)
    p = plan()
    result = ItemResult(workflow_id="order-O-1", outcome=ItemOutcome.FIXED, at=AT)
    assert audit.item(p.plan_id, p.action, "olga", result)
    # The activity ran again after a lost answer: nothing more is written.
    assert not audit.item(p.plan_id, p.action, "olga", result)
    assert audit.planned(p) and not audit.planned(p)
    audit.refused(p.plan_id, "olga", "expired")
    audit.refused(p.plan_id, "olga", "expired")
    events = [e.event for e in audit.entries(plan_id=p.plan_id)]
    assert events == ["item", "planned", "refused", "refused"]


def test_the_database_refuses_to_change_or_delete_the_audit(store: Store) -> None:
    audit = IncidentAudit(store)
    audit.planned(plan())
    statements = ["UPDATE incident_audit SET actor = 'someone else'", "DELETE FROM incident_audit"]
    if store.dialect == "postgresql":
        statements.append("TRUNCATE incident_audit")
    for statement in statements:
        with pytest.raises(DBAPIError, match="append-only"), store.write() as db:
            db.execute(text(statement))
    [entry] = audit.entries()
    assert entry.actor == "olga"


def test_entries_filter_by_plan_and_time_and_keep_the_newest(store: Store) -> None:
    audit = IncidentAudit(store)
    for n in range(5):
        audit.refused(f"plan-{n % 2}", "olga", f"try {n}", at=AT + timedelta(minutes=n))
    assert [e.detail for e in audit.entries(plan_id="plan-1")] == ["try 1", "try 3"]
    assert [e.detail for e in audit.entries(since=AT + timedelta(minutes=3))] == ["try 3", "try 4"]
    assert [e.detail for e in audit.entries(limit=2)] == ["try 3", "try 4"]
