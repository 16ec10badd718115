"""The approval inbox: sign in, see what waits for your roles, open one, decide with a comment.

Server-rendered (Jinja2), no JavaScript. The session is a signed cookie (HttpOnly,
SameSite=Lax) holding the username and a CSRF token that every POST must send back. Who may
decide is the Approval workflow's call: its refusals are shown to the person word for word.
"""

from __future__ import annotations

import hmac
import re
import secrets
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote

import anyio.to_thread
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from domain.approvals.models import (
    ApprovalClaim,
    ApprovalDecision,
    ApprovalDelegation,
    ApprovalState,
    ApprovalStatus,
    Verdict,
)
from domain.approvals.rules import may_view
from domain.operations import OPERATIONS_ROLE, is_operator
from services.bodies import BodyTooLarge, read_capped
from services.gateway.approvals import ApprovalDesk, Refused, money, ui_link
from services.gateway.errors import GatewayError
from services.gateway.people import People
from services.gateway.purchase_view import qty, qty_signed, signed
from services.gateway.temporal import Temporal
from store.sessions import LoginThrottle, Sessions

_APPROVAL_ID = re.compile(r"^approval-[\w.@:-]{1,200}$")
_FORM_ID = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
# The decide form's third button on an approval with parts: approve only the ticked ones.
ACCEPT_SELECTED = "approved_parts"
# The largest inbox form (a comment, a plan's reason) is a few kB; this leaves room and no more.
MAX_FORM_BYTES = 64 * 1024


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else "—"


templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
templates.env.filters["when"] = _when
templates.env.globals["money"] = money
templates.env.filters["qty"] = qty
templates.env.filters["signed"] = signed
templates.env.filters["qty_signed"] = qty_signed


class _Forbidden(Exception):
    """A POST without the session's CSRF token."""


@dataclass(frozen=True)
class InboxConfig:
    ui_url: str | None = None
    namespace: str = "default"


def csrf_token(request: Request) -> str:
    token = request.session.get("csrf")
    if not isinstance(token, str):
        token = request.session["csrf"] = secrets.token_urlsafe(32)
    return token


async def checked_form(request: Request) -> dict[str, str]:
    """The posted form, once its CSRF token matched the session's (a field sent twice: the last)."""
    return dict(await checked_fields(request))


async def checked_fields(request: Request) -> list[tuple[str, str]]:
    """The posted fields in order, repeated ones included (a checkbox per part), once the
    form's CSRF token matched the session's.

    Read with a cap: Starlette's `request.form()` buffers a url-encoded body of any size, and the
    sign-in form takes posts from anyone. Every inbox form is url-encoded; another body is no form.
    """
    try:
        body = await read_capped(request, MAX_FORM_BYTES)
    except BodyTooLarge as err:
        raise GatewayError(413, "PayloadTooLarge", f"the form is too large: {err}") from None
    fields: list[tuple[str, str]] = []
    if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        fields = parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
    sent = dict(fields).get("csrf_token")
    expected = request.session.get("csrf")
    if not (
        isinstance(sent, str)
        and isinstance(expected, str)
        and hmac.compare_digest(sent.encode(), expected.encode())
    ):
        raise _Forbidden
    return fields


class Pages:
    """What every signed-in page of the gateway shares: the session's user, rendering with the
    header's context, the way to the login page, the refusal of a form without its CSRF token."""

    def __init__(self, people: People, sessions: Sessions) -> None:
        self.people = people
        self.sessions = sessions

    def render(
        self, request: Request, name: str, context: dict[str, Any], status: int = 200
    ) -> HTMLResponse:
        user = getattr(request.state, "user", None)  # set by signed_in
        person = self.people.person(user) if isinstance(user, str) else None
        base = {
            "user": user,
            "person": person,
            "operator": is_operator(person),
            "csrf": csrf_token(request),
            "flash": request.session.pop("flash", None),
        }
        return templates.TemplateResponse(request, name, {**base, **context}, status_code=status)

    async def signed_in(self, request: Request) -> str | None:
        """The user of the request's server-side session, while it is valid: not logged out,
        not expired, the user still in the directory with the password they signed in with."""
        token = request.session.get("session")
        if not isinstance(token, str):
            return None
        found = await anyio.to_thread.run_sync(self.sessions.find, token, time.time())
        if found is None:
            request.session.clear()
            return None
        current = (self.people.fingerprint(found.username) or "").encode()
        if self.people.person(found.username) is None or not hmac.compare_digest(
            current, found.password_fingerprint.encode()
        ):
            await anyio.to_thread.run_sync(self.sessions.close, token)
            request.session.clear()
            return None
        request.state.user = found.username
        return found.username

    def to_login(self, request: Request) -> RedirectResponse:
        return RedirectResponse(f"/login?next={quote(request.url.path)}", status_code=303)

    def forbidden(self, request: Request) -> HTMLResponse:
        message = "This form has expired or did not come from this site. Reload and try again."
        return self.render(request, "error.html", {"message": message}, status=403)

    async def operator(self, request: Request, page: str) -> str | Response:
        """The signed-in operator, or the answer for anyone else (sign in; 403 naming the role)."""
        user = await self.signed_in(request)
        if user is None:
            return self.to_login(request)
        if not is_operator(self.people.person(user)):
            message = f"The {page} page is for the {OPERATIONS_ROLE} role."
            return self.render(request, "error.html", {"message": message}, status=403)
        return user

    async def posted(self, request: Request) -> dict[str, str] | None:
        """The posted form once its CSRF token matched the session's; None: it did not."""
        try:
            return await checked_form(request)
        except _Forbidden:
            return None

    async def operator_post(
        self, request: Request, page: str
    ) -> tuple[str, dict[str, str]] | Response:
        """The signed-in operator and their CSRF-checked form, or the answer for anything else."""
        who = await self.operator(request, page)
        if isinstance(who, Response):
            return who
        form = await self.posted(request)
        if form is None:
            return self.forbidden(request)
        return who, form


def inbox_router(
    people: People,
    temporal: Temporal,
    config: InboxConfig,
    sessions: Sessions,
    throttle: LoginThrottle,
) -> APIRouter:
    router = APIRouter(tags=["inbox"], include_in_schema=False)

    def desk() -> ApprovalDesk:
        return ApprovalDesk(temporal.client)

    pages = Pages(people, sessions)
    render, signed_in, to_login, forbidden = (
        pages.render,
        pages.signed_in,
        pages.to_login,
        pages.forbidden,
    )

    @router.get("/")
    async def home() -> RedirectResponse:
        return RedirectResponse("/inbox", status_code=303)

    @router.get("/login", response_class=HTMLResponse)
    async def login_page(request: Request, next: str = "/inbox") -> HTMLResponse:
        return render(request, "login.html", {"next": local_path(next), "error": None})

    @router.post("/login", response_class=HTMLResponse)
    async def login(request: Request) -> Response:
        try:
            form = await checked_form(request)
        except _Forbidden:
            return forbidden(request)
        username = form.get("username", "").strip()
        next_url = local_path(form.get("next", "/inbox"))
        # Per account and per address, counted by every replica (the store).
        keys = [
            f"user:{username.lower()}",
            f"addr:{request.client.host if request.client else '?'}",
        ]
        now = time.time()
        if wait := await anyio.to_thread.run_sync(throttle.locked_for, keys, now):
            minutes = max(1, round(wait / 60))
            error = f"Too many failed sign-ins: try again in {minutes} minute(s)."
            context = {"next": next_url, "error": error, "username": username}
            return render(request, "login.html", context, status=429)
        user = await people.authenticate(username, form.get("password", ""))
        if user is None:
            await anyio.to_thread.run_sync(throttle.failed, keys, now)
            error = (
                "Unknown user or wrong password."
                if people.can_sign_in
                else "Nobody can sign in: the gateway has no users file (INBOX_USERS_FILE)."
            )
            context = {"next": next_url, "error": error, "username": username}
            return render(request, "login.html", context, status=401)
        await anyio.to_thread.run_sync(throttle.succeeded, keys[0])
        fingerprint = people.fingerprint(user) or ""
        token = await anyio.to_thread.run_sync(sessions.open, user, fingerprint, now)
        # A new session on sign-in: nothing from before (a planted token) carries over.
        request.session.clear()
        request.session["session"] = token
        request.session["csrf"] = secrets.token_urlsafe(32)
        return RedirectResponse(next_url, status_code=303)

    @router.post("/logout")
    async def logout(request: Request) -> Response:
        try:
            await checked_form(request)
        except _Forbidden:
            return forbidden(request)
        if isinstance(token := request.session.get("session"), str):
            await anyio.to_thread.run_sync(sessions.close, token)  # a copied cookie ends too
        request.session.clear()
        return RedirectResponse("/login", status_code=303)

    @router.get("/inbox", response_class=HTMLResponse)
    async def inbox(request: Request) -> Response:
        user = await signed_in(request)
        if user is None:
            return to_login(request)
        person = people.person(user)
        assert person is not None
        try:
            rows = await desk().waiting_for(user, person.roles)
            error = None
        except Exception as err:  # visibility unreachable: say so on the page
            rows, error = [], f"The list cannot be read from Temporal right now ({err})."
        return render(request, "inbox.html", {"rows": rows, "error": error})

    @router.get("/inbox/{approval_id}", response_class=HTMLResponse)
    async def approval(request: Request, approval_id: str) -> Response:
        user = await signed_in(request)
        if user is None:
            return to_login(request)
        return await show(request, approval_id, user)

    async def show(request: Request, approval_id: str, user: str) -> HTMLResponse:
        if not _APPROVAL_ID.match(approval_id):
            return render(request, "error.html", {"message": "No such approval."}, status=404)
        try:
            state = await desk().state(approval_id)
        except Refused:
            # The same answer as for an approval that is not this user's: the inbox never
            # tells which approval ids exist.
            return render(request, "error.html", {"message": "No such approval."}, status=404)
        person = people.person(user)
        if person is None or not may_view(state, user, person.roles):
            # Not one of its people: as if it did not exist (it holds the customer's data).
            return render(request, "error.html", {"message": "No such approval."}, status=404)
        order = await desk().order(state)
        purchase = await desk().purchase(state)
        context = {
            "approval_id": approval_id,
            "state": state,
            "order": order.order,
            "order_status": order.status,
            "purchase": purchase,
            # An exception review: accept all, reject, or accept the lines ticked.
            "by_parts": bool(state.parts),
            "pending": state.status is ApprovalStatus.PENDING,
            "level": state.current_level,
            "colleagues": sorted(
                (name, p.name) for name, p in people.directory.items() if name != user
            ),
            "approval_link": ui_link(config.ui_url, config.namespace, approval_id),
            # One id per rendered form: sent twice (a double click, a retry), it is one update.
            "form_id": secrets.token_urlsafe(16),
            "order_link": ui_link(config.ui_url, config.namespace, state.subject_id),
            "purchase_link": ui_link(config.ui_url, config.namespace, purchase.process_id)
            if purchase
            else None,
            # What the workflow refused on the last POST, in its own words.
            "error": request.session.pop("refused", None),
        }
        return render(request, "approval.html", context)

    async def act(request: Request, approval_id: str, action: str) -> Response:
        user = await signed_in(request)
        if user is None:
            return to_login(request)
        try:
            fields = await checked_fields(request)
        except _Forbidden:
            return forbidden(request)
        if not _APPROVAL_ID.match(approval_id):
            return render(request, "error.html", {"message": "No such approval."}, status=404)
        form = dict(fields)
        comment = form.get("comment", "").strip()
        parts = [value for name, value in fields if name == "part"]
        try:
            state = await _perform(desk(), approval_id, action, user, comment, form, parts)
        except Refused as err:
            # Post/redirect/get either way, so a reload never sends the form again.
            request.session["refused"] = str(err)
        else:
            request.session["flash"] = _done(action, state, form)
        return RedirectResponse(f"/inbox/{approval_id}", status_code=303)

    @router.post("/inbox/{approval_id}/decide")
    async def decide(request: Request, approval_id: str) -> Response:
        return await act(request, approval_id, "decide")

    @router.post("/inbox/{approval_id}/claim")
    async def claim(request: Request, approval_id: str) -> Response:
        return await act(request, approval_id, "claim")

    @router.post("/inbox/{approval_id}/delegate")
    async def delegate(request: Request, approval_id: str) -> Response:
        return await act(request, approval_id, "delegate")

    return router


async def _perform(
    desk: ApprovalDesk,
    approval_id: str,
    action: str,
    user: str,
    comment: str,
    form: dict[str, str],
    parts: list[str],
) -> ApprovalState:
    sent = form.get("form_id", "")
    update_id = f"inbox:{action}:{sent}" if _FORM_ID.match(sent) else None
    if action == "claim":
        return await desk.claim(approval_id, ApprovalClaim(approver=user), update_id)
    if action == "delegate":
        to = form.get("to", "").strip()
        if not to:
            raise Refused("Choose who to delegate to.")
        delegation = ApprovalDelegation(approver=user, to=to, comment=comment)
        return await desk.delegate(approval_id, delegation, update_id)
    verdict, accepted = _verdict(form.get("verdict", ""), parts)
    level_text = form.get("level", "")
    # The level the person saw: if the approval moved on meanwhile, the workflow refuses.
    level = int(level_text) if level_text.isdigit() else None
    decision = ApprovalDecision(
        approver=user, verdict=verdict, comment=comment, level=level, parts=accepted
    )
    return await desk.decide(approval_id, decision, update_id)


def _verdict(sent: str, ticked: list[str]) -> tuple[Verdict, list[str]]:
    """The verdict and the parts it accepts. "Accept selected" with the ticked parts (an
    approval of those only: the workflow refuses a part the request does not have); approve
    and reject are on the whole request, whatever was ticked."""
    if sent == ACCEPT_SELECTED:
        if not ticked:
            raise Refused("Tick the lines to accept, or accept all.")
        return Verdict.APPROVED, sorted(set(ticked), key=lambda p: (len(p), p))
    try:
        return Verdict(sent), []
    except ValueError:
        raise Refused("Choose approve or reject.") from None


def _done(action: str, state: ApprovalState, form: dict[str, str]) -> str:
    if action == "claim":
        return f"You claimed {state.summary}."
    if action == "delegate":
        return f"Delegated to {form.get('to')}."
    now = state.status.value.lower()
    if form.get("verdict") == ACCEPT_SELECTED:
        accepted = ", ".join(state.accepted_parts) or "none"
        return f"You accepted lines {accepted}; the approval is now {now}."
    return f"You {form.get('verdict', '')} it; the approval is now {now}."


def local_path(url: str) -> str:
    """Only a path on this site: never an open redirect to another host."""
    return url if url.startswith("/") and not url.startswith(("//", "/\\")) else "/inbox"
