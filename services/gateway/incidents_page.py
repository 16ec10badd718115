"""The inbox's Incidents page, for the operations role: find processes by business terms, plan a
repair (a dry run: the frozen list and what would happen to each, signed), apply it, and follow
it in the audit. When the gateway consumes a broker, the page also lists the inbound events it
could not apply (the dead letters, with the reason) and re-drives one, audited like the CLI's
`continuum incidents redrive`.

Same sign-in, session and CSRF token as the approvals. The plan is made under the signed-in
person's name and kept, signed, in the audit; applying verifies that signature again (the
database does not hold the key), so a plan changed in the store is refused like a changed file.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from temporalio.client import Client
from temporalio.service import RPCError

from continuum.events.broker import BrokerError, DeadLetter, list_dead_letters, redrive_audited
from continuum.events.config import Nats
from continuum.incidents.apply import RepairError, repair_progress, start_repair
from continuum.incidents.find import FindError, Found, find
from continuum.incidents.key import IncidentKeyError, incident_key
from continuum.incidents.planner import make_plan
from continuum.incidents.plans import PlanError, verify_plan
from domain.incidents.contract import Action, Plan, RepairProgress, workflow_id
from domain.incidents.planning import PlanRefused, parse_action
from domain.incidents.query import FIELDS, FLAGS, QueryError
from services.gateway.approvals import ui_link
from services.gateway.inbox import InboxConfig, Pages
from services.gateway.temporal import Temporal
from store.incidents import IncidentAudit

_PLAN_ID = re.compile(r"^[\w-]{1,64}$")
# The page lists at most this many processes; the CLI takes --limit.
PAGE_LIMIT = 200
AUDIT_SHOWN = 30
LETTERS_SHOWN = 50
# A job that does not answer its query within this (no ops worker) is shown from the audit.
PROGRESS_TIMEOUT = timedelta(seconds=3)
EXAMPLES = [
    "type=order retrying",
    "type=order status=NeedsAttention",
    "type=order step=capture_payment since>30m",
    "execution=failed age<1d",
]


def incidents_router(
    pages: Pages,
    temporal: Temporal,
    config: InboxConfig,
    audit: IncidentAudit,
    key: Callable[[bool], bytes] = lambda create: incident_key(create=create),
    broker: Nats | None = None,
) -> APIRouter:
    """`key(create)`: the installation's incident key (made on the first plan); `broker`: the
    NATS the gateway consumes, whose dead letters the page lists (None: no such section)."""
    router = APIRouter(tags=["incidents"], include_in_schema=False)

    async def operator(request: Request) -> str | Response:
        return await pages.operator(request, "Incidents")

    async def search(where: str) -> tuple[Found | None, str | None]:
        try:
            return await find(temporal.client, where, datetime.now(UTC), PAGE_LIMIT), None
        except (QueryError, FindError) as err:
            return None, str(err)
        except (RuntimeError, RPCError) as err:  # Temporal away: say so on the page
            return None, f"Temporal cannot be asked right now ({err})."

    @router.get("/incidents", response_class=HTMLResponse)
    async def incidents(request: Request, where: str = "") -> Response:
        who = await operator(request)
        if isinstance(who, Response):
            return who
        found, error = (await search(where)) if where.strip() else (None, None)
        entries = await asyncio.to_thread(audit.entries, None, None, AUDIT_SHOWN)
        letters, letters_error = await _dead_letters(broker)
        context = {
            "where": where,
            "found": found,
            "error": error or request.session.pop("refused", None),
            "actions": [a.value for a in Action],
            "fields": [*FIELDS, *FLAGS],
            "examples": EXAMPLES,
            "entries": list(reversed(entries)),
            "now": datetime.now(UTC),
            "broker": broker is not None,
            "letters": letters,
            "letters_error": letters_error,
        }
        return pages.render(request, "incidents.html", context)

    @router.post("/incidents/dead-letters/redrive")
    async def redrive_letter(request: Request) -> Response:
        posted = await pages.operator_post(request, "Incidents")
        if isinstance(posted, Response):
            return posted
        who, form = posted
        back = RedirectResponse("/incidents#dead-letters", status_code=303)
        number = form.get("sequence", "")
        if broker is None or not number.isdigit():
            request.session["refused"] = f"No dead letter {number!r} to re-drive."
            return back
        sequence = int(number)
        try:
            letter = await redrive_audited(broker, sequence, who, audit)
        except BrokerError as err:
            request.session["refused"] = str(err)
            return back
        request.session["flash"] = f"Re-drove #{sequence}: {letter.what} → {letter.subject}."
        return back

    @router.post("/incidents/plan")
    async def plan(request: Request) -> Response:
        posted = await pages.operator_post(request, "Incidents")
        if isinstance(posted, Response):
            return posted
        who, form = posted
        where = form.get("where", "")
        back = RedirectResponse(_incidents_url(where), status_code=303)
        try:
            action = parse_action(form.get("action", ""))
            params = _params(form.get("params", ""))
            signing_key = await asyncio.to_thread(key, True)
        except (PlanRefused, IncidentKeyError) as err:
            request.session["refused"] = str(err)
            return back
        found, error = await search(where)
        if found is None:
            request.session["refused"] = error
            return back
        try:
            planned = make_plan(
                found,
                action,
                params=params,
                operator=who,
                reason=form.get("reason", ""),
                ticket=form.get("ticket", ""),
                now=datetime.now(UTC),
                key=signing_key,
            )
        except PlanRefused as err:
            request.session["refused"] = str(err)
            return back
        await asyncio.to_thread(audit.planned, planned.plan)
        left = "; ".join(f"{f.workflow_id}: {why}" for f, why in planned.left_out)
        request.session["flash"] = (
            f"Planned {len(planned.plan.items)} process(es). Nothing changed yet."
            + (f" Left out: {left}." if left else "")
        )
        return RedirectResponse(f"/incidents/plans/{planned.plan.plan_id}", status_code=303)

    async def stored(plan_id: str) -> Plan | None:
        if not _PLAN_ID.match(plan_id):
            return None
        return await asyncio.to_thread(audit.plan, plan_id)

    def no_such_plan(request: Request) -> HTMLResponse:
        return pages.render(request, "error.html", {"message": "No such plan."}, status=404)

    @router.get("/incidents/plans/{plan_id}", response_class=HTMLResponse)
    async def show(request: Request, plan_id: str) -> Response:
        who = await operator(request)
        if isinstance(who, Response):
            return who
        found = await stored(plan_id)
        if found is None:
            return no_such_plan(request)
        now = datetime.now(UTC)
        try:
            verify_plan(found, await asyncio.to_thread(key, False), now)
            refusal = None
        except (PlanError, IncidentKeyError) as err:
            refusal = str(err)
        entries = await asyncio.to_thread(audit.entries, plan_id)
        started = any(e.event == "started" for e in entries)
        progress, progress_error = (None, None)
        if started:
            progress, progress_error = await _progress(temporal.client, plan_id)
        job = workflow_id(plan_id)
        context = {
            "plan": found,
            "refusal": refusal,
            "entries": entries,
            "started": started,
            "job": job,
            "job_link": ui_link(config.ui_url, config.namespace, job),
            "progress": progress,
            "progress_error": progress_error,
            "valid_until": found.created_at + found.valid_for,
            "error": request.session.pop("refused", None),
        }
        return pages.render(request, "incident_plan.html", context)

    @router.post("/incidents/plans/{plan_id}/apply")
    async def apply(request: Request, plan_id: str) -> Response:
        posted = await pages.operator_post(request, "Incidents")
        if isinstance(posted, Response):
            return posted
        who, _ = posted
        found = await stored(plan_id)
        if found is None:
            return no_such_plan(request)
        try:
            signing_key = await asyncio.to_thread(key, False)
            job = await start_repair(temporal.client, found, who, audit, key=signing_key)
        except (PlanError, RepairError, IncidentKeyError) as err:
            request.session["refused"] = str(err)
        except (RuntimeError, RPCError) as err:
            request.session["refused"] = f"Temporal is not reachable ({err}); try again."
        else:
            request.session["flash"] = f"Applying: job {job} started by {who}."
        return RedirectResponse(f"/incidents/plans/{plan_id}", status_code=303)

    return router


async def _dead_letters(broker: Nats | None) -> tuple[list[DeadLetter], str | None]:
    if broker is None:
        return [], None
    try:
        return await list_dead_letters(broker, LETTERS_SHOWN), None
    except BrokerError as err:  # the broker away: say so on the page
        return [], f"The broker cannot be asked right now ({err})."


async def _progress(client: Client, plan_id: str) -> tuple[RepairProgress | None, str | None]:
    try:
        return await repair_progress(client, plan_id, rpc_timeout=PROGRESS_TIMEOUT), None
    except (RepairError, RuntimeError, RPCError) as err:  # silent job: the audit says the rest
        return None, f"{err}; see the audit below"


def _params(text: str) -> dict[str, str]:
    """`name=value` lines (or comma-separated) into the action's parameters."""
    params: dict[str, str] = {}
    for part in re.split(r"[\n,]", text):
        if not part.strip():
            continue
        name, sep, value = part.partition("=")
        if not sep or not name.strip():
            raise PlanRefused(f"parameters are NAME=VALUE, not {part.strip()!r}")
        params[name.strip()] = value.strip()
    return params


def _incidents_url(where: str) -> str:
    return "/incidents?" + urlencode({"where": where}) if where else "/incidents"
