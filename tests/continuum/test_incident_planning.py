"""What each repair action would do to a process, in words, or why it leaves it out; a plan
holds only the processes its action fits, and refuses to be made without who, why and ticket."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from continuum.incidents.find import Found
from continuum.incidents.planner import make_plan
from continuum.incidents.plans import verify_plan
from domain.incidents.contract import Action
from domain.incidents.findings import Finding, PendingStep
from domain.incidents.planning import PlanRefused, consequence, parse_action
from domain.incidents.query import compile_where

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
KEY = b"k" * 32


def finding(name: str, **changes: object) -> Finding:
    base = Finding(
        workflow_id=f"order-{name}",
        run_id=f"run-{name}",
        workflow_type="OrderToCash",
        execution="Running",
        status="Checking",
        steps=[
            PendingStep(name="check_stock", state="Scheduled", attempt=2),
            PendingStep(name="check_credit", state="Scheduled", attempt=5, last_failure="ERP 503"),
        ],
    )
    return base.model_copy(update=changes)


RETRYING = finding("A")
WAITING = finding("B", status="AwaitingDelivery", steps=[])
PAUSED = finding("C", steps=[PendingStep(name="capture_payment", state="Paused", paused=True)])
STUCK = finding("D", status="NeedsAttention", execution="Completed", steps=[])
FAILED_SYNC = finding("E", workflow_type="ErpCrmSync", execution="Failed", status="Failed")


@pytest.mark.parametrize(
    ("action", "process", "what", "why_not"),
    [
        (Action.RETRY, RETRYING, "run check_credit (attempt 5, last: ERP 503) now", ""),
        (Action.RETRY, WAITING, "", "waits on no step"),
        (Action.PAUSE, RETRYING, "pause check_credit", ""),
        (Action.PAUSE, PAUSED, "", "capture_payment is already paused"),
        (Action.UNPAUSE, PAUSED, "unpause capture_payment", ""),
        (Action.UNPAUSE, RETRYING, "", "check_credit is not paused"),
        (Action.CANCEL, WAITING, "cancel the order", ""),
        (Action.CANCEL, STUCK, "", "already NeedsAttention"),
        (Action.CANCEL, FAILED_SYNC, "", "cancel is for orders"),
        (Action.RESET, STUCK, "reset to before the step that failed", ""),
        (Action.RESET, FAILED_SYNC, "reset to before the step that failed", ""),
        (Action.RESET, RETRYING, "", "neither failed nor needing attention (Checking)"),
        (Action.TERMINATE, RETRYING, "terminate it with the plan's reason", ""),
        (Action.TERMINATE, STUCK, "", "not running (Completed)"),
        (Action.REDRIVE, RETRYING, "", "redrive is for the sync"),
    ],
)
def test_each_action_says_what_it_would_do_or_why_not(
    action: Action, process: Finding, what: str, why_not: str
) -> None:
    said, refused = consequence(action, process, {})
    assert (what in said if what else said == "") and (
        why_not in refused if why_not else not refused
    )


def test_a_plan_holds_only_the_processes_its_action_fits() -> None:
    found = Found(compile_where("type=order", NOW), [RETRYING, WAITING, PAUSED], truncated=False)
    planned = make_plan(
        found,
        Action.RETRY,
        params={},
        operator="olga",
        reason="ERP back",
        ticket="INC-1",
        now=NOW,
        key=KEY,
        canary=5,
    )
    plan = planned.plan
    assert [i.target.workflow_id for i in plan.items] == ["order-A", "order-C"]
    assert plan.items[0].target.step == "check_credit" and plan.items[0].target.attempt == 5
    assert [(f.workflow_id, why) for f, why in planned.left_out] == [
        ("order-B", "waits on no step")
    ]
    assert plan.canary == 2 and plan.where == "type=order" and plan.created_at == NOW
    assert verify_plan(plan, KEY, NOW) == plan


@pytest.mark.parametrize(
    ("found", "changes", "says"),
    [
        (Found(compile_where("type=order", NOW), [WAITING], False), {}, "retry fits none of them"),
        (Found(compile_where("type=order", NOW), [], False), {}, "no process matched"),
        (Found(compile_where("type=order", NOW), [RETRYING], True), {}, "narrow --where"),
        (Found(compile_where("type=order", NOW), [RETRYING], False), {"ticket": ""}, "--ticket"),
        (Found(compile_where("type=order", NOW), [RETRYING], False), {"canary": 99}, "--canary"),
        (
            Found(compile_where("type=order", NOW), [RETRYING], False),
            {"params": {"maximum_attempts": "3"}},
            "retry: takes no parameter 'maximum_attempts'",
        ),
    ],
)
def test_a_plan_is_refused_in_one_line(found: Found, changes: dict[str, object], says: str) -> None:
    arguments: dict[str, object] = {
        "params": {},
        "operator": "olga",
        "reason": "ERP back",
        "ticket": "INC-1",
        "now": NOW,
        "key": KEY,
        **changes,
    }
    with pytest.raises(PlanRefused, match=says):
        make_plan(found, Action.RETRY, **arguments)  # type: ignore[arg-type]


def test_an_unknown_action_is_named() -> None:
    assert parse_action(" Retry-Options ") is Action.RETRY_OPTIONS
    with pytest.raises(PlanRefused, match="unknown action 'reboot' \\(known: retry, pause"):
        parse_action("reboot")
