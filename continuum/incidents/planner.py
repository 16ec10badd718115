"""Make a repair plan from what `find` found: the frozen list of processes the action fits, what
will happen to each, who, why and under which ticket, signed. Nothing is changed: planning only
reads (the processes were read by `find`) and writes the plan and its audit entry."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from continuum.incidents.find import Found
from continuum.incidents.plans import new_plan_id, sign_plan
from domain.incidents.contract import Action, Plan, PlanItem
from domain.incidents.findings import Finding
from domain.incidents.planning import PlanRefused, consequence, params_problem

MAX_CANARY = 50


@dataclass
class Planned:
    plan: Plan
    # Found but not in the plan, with why (the action does not fit them).
    left_out: list[tuple[Finding, str]] = field(default_factory=list)


def make_plan(
    found: Found,
    action: Action,
    *,
    params: dict[str, str],
    operator: str,
    reason: str,
    ticket: str,
    now: datetime,
    key: bytes,
    valid_for: timedelta = timedelta(hours=1),
    canary: int = 1,
    rate_per_second: float = 5.0,
) -> Planned:
    """The signed plan; `PlanRefused` (one line) when it cannot be made as asked."""
    for name, value in (("--by", operator), ("--reason", reason), ("--ticket", ticket)):
        if not value.strip():
            raise PlanRefused(f"a plan needs {name}: who plans it, why, and the ticket")
    if problem := params_problem(action, params):
        raise PlanRefused(problem)
    if found.truncated:
        raise PlanRefused(
            f"more than {len(found.findings)} processes match: narrow --where"
            " (a plan lists every process it acts on)"
        )
    if not 0 <= canary <= MAX_CANARY:
        raise PlanRefused(f"--canary takes 0 to {MAX_CANARY}, not {canary}")
    if not 0 < rate_per_second <= 100:
        raise PlanRefused(
            f"--rate takes more than 0 and at most 100 per second, not {rate_per_second}"
        )
    if valid_for <= timedelta(0) or valid_for > timedelta(days=1):
        raise PlanRefused(f"--valid-for takes up to 1d, not {valid_for}")
    items: list[PlanItem] = []
    left_out: list[tuple[Finding, str]] = []
    for finding in found.findings:
        what, why_not = consequence(action, finding, params)
        if why_not:
            left_out.append((finding, why_not))
        else:
            items.append(PlanItem(target=finding.target(), what=what))
    if not items:
        why = "no process matched" if not found.findings else f"{action.value} fits none of them"
        raise PlanRefused(f"nothing to plan: {why} (--where {found.search.where!r})")
    plan = Plan(
        plan_id=new_plan_id(now),
        action=action,
        params=params,
        where=found.search.where,
        query=found.search.query,
        items=items,
        operator=operator.strip(),
        reason=reason.strip(),
        ticket=ticket.strip(),
        created_at=now,
        valid_for=valid_for,
        canary=min(canary, len(items)),
        rate_per_second=rate_per_second,
    )
    return Planned(sign_plan(plan, key), left_out)
