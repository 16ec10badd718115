"""The inbox's Alerts page, for the operations role: what fires, what someone acknowledged, what
resolved, each with its timeline; acknowledge or silence from the page.

Same sign-in, session and CSRF token as the approvals. The Alert workflow decides who may
acknowledge or silence; its refusal is shown to the person word for word.
"""

from __future__ import annotations

import asyncio
import re
import secrets
from datetime import timedelta

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from continuum.alert_client import OPEN, AlertClient, AlertError, UnknownAlert
from domain.alerts.contract import Acknowledgement, AlertState, AlertStatus, Silence
from domain.durations import parse_duration, spoken
from services.gateway.approvals import ui_link
from services.gateway.inbox import InboxConfig, Pages, templates
from services.gateway.temporal import Temporal

_ALERT_ID = re.compile(r"^alert-[\w.@:-]{1,200}$")
_FORM_ID = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
# What the page offers; the CLI takes any duration.
SILENCE_CHOICES = {
    "30m": "30 minutes",
    "1h": "1 hour",
    "2h": "2 hours",
    "4h": "4 hours",
    "1d": "1 day",
}
RESOLVED_SHOWN = 20


def _after(delay: timedelta) -> str:
    return f"after {spoken(delay)}" if delay else "at once"


templates.env.filters["after"] = _after


def alerts_router(pages: Pages, temporal: Temporal, config: InboxConfig) -> APIRouter:
    router = APIRouter(tags=["alerts"], include_in_schema=False)

    def desk() -> AlertClient:
        return AlertClient(temporal.client)

    async def operator(request: Request) -> str | Response:
        return await pages.operator(request, "Alerts")

    def no_such_alert(request: Request) -> HTMLResponse:
        return pages.render(request, "error.html", {"message": "No such alert."}, status=404)

    @router.get("/alerts", response_class=HTMLResponse)
    async def alerts(request: Request) -> Response:
        who = await operator(request)
        if isinstance(who, Response):
            return who
        error = None
        try:
            current, resolved = await asyncio.gather(
                desk().list(OPEN), desk().list([AlertStatus.RESOLVED], limit=RESOLVED_SHOWN)
            )
        except (AlertError, RuntimeError, OSError) as err:  # visibility unreachable: say so
            current, resolved = [], []
            error = f"The alerts cannot be read from Temporal right now ({err})."
        acknowledged = [r for r in current if r.status is AlertStatus.ACKNOWLEDGED]
        firing = [r for r in current if r.status is not AlertStatus.ACKNOWLEDGED]
        context = {
            "sections": [
                ("Firing", "firing", firing, "Nothing fires right now."),
                ("Acknowledged", "acknowledged", acknowledged, "Nobody is on an alert right now."),
                ("Resolved", "resolved", resolved, "No alert resolved lately."),
            ],
            "acknowledgeable": {r.alert_id for r in current if r.state and _awaits_ack(r.state)},
            # One id per rendered form: sent twice (a double click, a retry), it is one update.
            "form_ids": {r.alert_id: secrets.token_urlsafe(16) for r in current},
            "error": error,
        }
        return pages.render(request, "alerts.html", context)

    @router.get("/alerts/{alert_id}", response_class=HTMLResponse)
    async def alert(request: Request, alert_id: str) -> Response:
        who = await operator(request)
        if isinstance(who, Response):
            return who
        if not _ALERT_ID.match(alert_id):
            return no_such_alert(request)
        try:
            state = await desk().state(alert_id)
        except UnknownAlert:
            return no_such_alert(request)
        except (AlertError, RuntimeError) as err:
            return pages.render(request, "error.html", {"message": str(err)}, status=503)
        context = {
            "alert_id": alert_id,
            "state": state,
            "acknowledgeable": _awaits_ack(state),
            "silenceable": state.status.is_open,
            "silence_choices": SILENCE_CHOICES,
            "form_id": secrets.token_urlsafe(16),
            "alert_link": ui_link(config.ui_url, config.namespace, alert_id),
            # What the workflow refused on the last POST, in its own words.
            "error": request.session.pop("refused", None),
        }
        return pages.render(request, "alert.html", context)

    async def act(request: Request, alert_id: str, action: str) -> Response:
        posted = await pages.operator_post(request, "Alerts")
        if isinstance(posted, Response):
            return posted
        who, form = posted
        if not _ALERT_ID.match(alert_id):
            return no_such_alert(request)
        try:
            state = await _perform(desk(), alert_id, action, who, form)
        except AlertError as err:
            # Post/redirect/get either way, so a reload never sends the form again.
            request.session["refused"] = str(err)
        except RuntimeError as err:  # the lazy client's connection failed
            request.session["refused"] = f"Temporal is not reachable ({err}); try again."
        else:
            request.session["flash"] = _done(action, state)
        return RedirectResponse(f"/alerts/{alert_id}", status_code=303)

    @router.post("/alerts/{alert_id}/acknowledge")
    async def acknowledge(request: Request, alert_id: str) -> Response:
        return await act(request, alert_id, "acknowledge")

    @router.post("/alerts/{alert_id}/silence")
    async def silence(request: Request, alert_id: str) -> Response:
        return await act(request, alert_id, "silence")

    return router


def _awaits_ack(state: AlertState) -> bool:
    """Fired, open and nobody on it yet: the page offers the button (the workflow decides)."""
    return state.status.is_open and state.fired_at is not None and state.acknowledged_at is None


async def _perform(
    desk: AlertClient, alert_id: str, action: str, user: str, form: dict[str, str]
) -> AlertState:
    sent = form.get("form_id", "")
    update_id = f"inbox:{action}:{sent}" if _FORM_ID.match(sent) else None
    if action == "acknowledge":
        ack = Acknowledgement(by=user, comment=form.get("comment", "").strip())
        return await desk.acknowledge(alert_id, ack, update_id)
    choice = form.get("duration", "")
    if choice not in SILENCE_CHOICES:
        raise AlertError("Choose how long to silence it.")
    reason = form.get("reason", "").strip()
    if not reason:
        raise AlertError("Say why it is silenced: the reason is kept in its timeline.")
    duration: timedelta = parse_duration(choice)
    return await desk.silence(
        alert_id, Silence(by=user, duration=duration, reason=reason), update_id
    )


def _done(action: str, state: AlertState) -> str:
    if action == "acknowledge":
        return f"You acknowledged it; escalation stops. The alert is {state.status.value.lower()}."
    return f"You silenced it; the alert is {state.status.value.lower()}."
