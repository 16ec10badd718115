"""`--where` in business terms: what visibility answers becomes its query, what only a process's
description answers becomes a step condition, and every mistake is one line naming it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from domain.incidents.findings import PendingStep
from domain.incidents.query import (
    QueryError,
    compile_runbook,
    compile_where,
    parse_duration,
    runbook_where,
)

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def test_business_terms_become_a_visibility_query() -> None:
    search = compile_where(
        "type=order status=checking|Processing customer=C-100, age>2h and since<=30m total>=1000",
        NOW,
    )
    assert search.query == (
        "WorkflowType = 'OrderToCash'"
        " AND OrderStatus IN ('Checking', 'Processing')"
        " AND CustomerId = 'C-100'"
        " AND StartTime < '2026-12-06T10:00:00Z'"
        " AND StateSince >= '2026-12-06T11:30:00Z'"
        " AND OrderTotal >= 1000.0"
    )
    assert search.conditions == ()


def test_each_kind_has_its_status_attribute() -> None:
    assert compile_where("type=approval status=pending", NOW).query == (
        "WorkflowType = 'Approval' AND ApprovalStatus = 'Pending'"
    )
    assert compile_where("type=alert status=Firing|acknowledged", NOW).query == (
        "WorkflowType = 'Alert' AND ProcessStatus IN ('Firing', 'Acknowledged')"
    )
    assert compile_where("type=sync status=Syncing", NOW).query == (
        "WorkflowType = 'ErpCrmSync' AND ProcessStatus = 'Syncing'"
    )
    # No kind named: any status attribute may hold it.
    assert compile_where("status=NeedsAttention", NOW).query == (
        "(OrderStatus = 'NeedsAttention' OR ApprovalStatus = 'NeedsAttention'"
        " OR ProcessStatus = 'NeedsAttention')"
    )
    assert compile_where("execution=failed|cancelled id~order-", NOW).query == (
        "ExecutionStatus IN ('Failed', 'Canceled') AND WorkflowId STARTS_WITH 'order-'"
    )


def test_step_terms_are_checked_on_each_pending_step() -> None:
    search = compile_where('type=order retrying step=check_credit error~"erp unavailable"', NOW)
    assert search.query == "ExecutionStatus = 'Running' AND WorkflowType = 'OrderToCash'"
    failing = PendingStep(
        name="check_credit", state="Scheduled", attempt=4, last_failure="ERP unavailable (503)"
    )
    first_try = failing.model_copy(update={"attempt": 1})
    other_step = failing.model_copy(update={"name": "check_stock"})
    assert search.matches([other_step, failing])
    assert not search.matches([first_try])
    assert not search.matches([other_step])
    assert not search.matches([])
    # The terms hold together on one step, not spread over two.
    assert not search.matches([first_try, other_step])
    by_type = compile_where("error=ErpUnavailable attempt>3", NOW)
    assert by_type.matches([failing.model_copy(update={"failure_type": "ErpUnavailable"})])
    assert not by_type.matches([failing])
    assert compile_where("type=order", NOW).matches([])  # no step terms: any process


@pytest.mark.parametrize(
    ("where", "says"),
    [
        ("colour=red", "unknown field 'colour' in --where (known: type, status,"),
        ("type=order stuck", "unknown field 'stuck' in --where"),
        ("type=order customer", "'customer' needs an operator and a value, e.g. customer=..."),
        ("type=ship", "unknown process type 'ship' (known: order, approval,"),
        ("type=order status=Shipped", "unknown status 'Shipped' for OrderToCash (known: Received,"),
        ("age>soon", "'soon' is not a duration: write it like 2h, 30m, 1h30m, 45s or 1d"),
        ("age>0m", "'0m' is not a duration above zero"),
        ("age=2h", "'age' takes > >= < <=, not '='"),
        ("step>check_credit", "'step' takes = !=, not '>'"),
        ("attempt>=many", "attempt takes a whole number, not 'many'"),
        ("total>lots", "total takes a number, not 'lots'"),
        ('customer="C-1\' OR 1=1"', 'customer value "C-1\' OR 1=1" may not hold quotes'),
        ("execution=sleeping", "unknown execution status 'sleeping'"),
        ("   ", "--where is empty"),
        ("type=order ===", "cannot read --where at '==='"),
        ("customer=", "customer= needs a value"),
        ("alert=a alert=b", "one alert at a time"),
    ],
)
def test_a_mistake_is_one_line_naming_it(where: str, says: str) -> None:
    with pytest.raises(QueryError) as refused:
        compile_where(where, NOW)
    assert says in str(refused.value)
    assert "\n" not in str(refused.value)


def test_an_alert_brings_its_runbook_terms() -> None:
    search = compile_where("alert=erp-down-1a2b customer=C-9", NOW)
    assert search.alert == "alert-erp-down-1a2b" and search.query == "CustomerId = 'C-9'"
    runbook = compile_runbook(
        search.alert, 'plan retry --where "type=order retrying step=check_credit"', NOW
    )
    joined = search.joined(runbook)
    assert joined.query == (
        "(CustomerId = 'C-9') AND (ExecutionStatus = 'Running' AND WorkflowType = 'OrderToCash')"
    )
    assert [c.field for c in joined.conditions] == ["attempt", "step"]
    assert runbook_where("type=order retrying") == "type=order retrying"
    assert runbook_where("plan retry --where 'type=order'") == "type=order"
    with pytest.raises(QueryError, match="alert-x's runbook: unknown field 'bogus'"):
        compile_runbook("alert-x", "bogus=1", NOW)
    with pytest.raises(QueryError, match="alert-x has no runbook terms"):
        compile_runbook("alert-x", "  ", NOW)


def test_durations() -> None:
    assert parse_duration("1h30m").total_seconds() == 5400
    assert parse_duration("2d").days == 2
    assert parse_duration("90s").total_seconds() == 90
