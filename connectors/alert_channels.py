"""Sends an alert through apprise: e-mail over SMTP, and any apprise URL (Slack, Teams, ...).

apprise does the protocols; here its per-call outcome becomes what the channel answered (the
alert's audit) or a `domain.errors` failure that Temporal retries. apprise retries nothing itself
(`retry=0`, its default). Secrets never reach an answer: apprise masks them in its URLs, and every
known secret value is blanked from the text it logged.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import apprise

from domain.errors import InvalidRequestError, TransientError

SYSTEM = "alert-channel"
# apprise's own deadline for one call, inside the activity's start-to-close of 30 s.
CALL_TIMEOUT = 25.0


@dataclass(frozen=True)
class SmtpServer:
    host: str
    port: int | None = None  # None: the security mode's usual port (25, 587, 465)
    security: str = "starttls"  # insecure | starttls | ssl
    user: str | None = None
    password: str | None = None
    sender: str = "continuum@localhost"


def _blank(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "****")
    return text


async def _send(service: Any, title: str, body: str, secrets: list[str]) -> str:
    """One apprise service, one notification: its last log line as the answer."""
    # apprise says what a service answered ("Sent Email to ...") at INFO; below that level its
    # logger never makes the record that the per-call capture would keep.
    apprise_log = logging.getLogger("apprise")
    if not apprise_log.isEnabledFor(logging.INFO):
        apprise_log.setLevel(logging.INFO)
    sender = apprise.Apprise()
    if service is None or not sender.add(service):
        raise InvalidRequestError(SYSTEM, "BadReceiver", "apprise does not accept this receiver")
    result = await sender.async_notify(
        body=body,
        title=title,
        body_format=apprise.NotifyFormat.TEXT,
        timeout=CALL_TIMEOUT,
        log_level=logging.INFO,
    )
    lines = [e.message for r in result.results for a in r.attempts for e in a]
    said = _blank(lines[-1] if lines else "", secrets)
    service_name = ", ".join(r.name for r in result.results) or "apprise"
    if not result:
        status = result.status.name.lower()
        raise TransientError(
            SYSTEM, "NotDelivered", f"{service_name}: {status}: {said or 'no answer'}"
        )
    return said or f"accepted by {service_name}"


async def send_email(
    server: SmtpServer, to: str, title: str, body: str, headers: dict[str, str]
) -> str:
    service = apprise.Apprise.instantiate(
        {
            "schema": "mailto" if server.security == "insecure" else "mailtos",
            "host": server.host,
            "port": server.port,
            "user": server.user,
            "password": server.password,
            "secure_mode": server.security,
            "from_addr": server.sender,
            "targets": [to],
            "headers": headers,
        }
    )
    return await _send(service, title, body, [server.password or ""])


async def send_url(url: str, title: str, body: str, secrets: list[str]) -> str:
    """`url` is an apprise URL with its secrets already filled in."""
    return await _send(apprise.Apprise.instantiate(url), title, body, secrets)
