"""Who an alert tells, who may take it, and whether a route can be delivered at all.

Pure: the environment is passed in as a mapping. The watchdog's configuration loader and the ops
worker call `route_problems` and `delivery_problems` at start, so a route that cannot work is
refused with its reason before anything is paged through it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import timedelta

from domain.alerts.contract import AlertInput, Receiver, ReceiverKind, Route

# Secret parts of a receiver's target (an apprise URL's token, a password) are written as
# `${ALERT_...}` and filled in from the environment by the delivery activity, so they are never
# in the configuration file, the workflow's history or its timeline. Only ALERT_* names: a
# route must not be able to send any other secret of the installation to a URL.
PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
SECRET_PREFIX = "ALERT_"
WEBHOOK_SECRET = "ALERT_WEBHOOK_SECRET"
MIN_REPEAT = timedelta(minutes=1)
MAX_SILENCE = timedelta(days=7)


def placeholders(target: str) -> list[str]:
    return PLACEHOLDER.findall(target)


def fill(target: str, env: Mapping[str, str]) -> str:
    """The target with its `${ALERT_...}` placeholders filled in; KeyError names a missing one."""
    return PLACEHOLDER.sub(lambda m: env[m.group(1)], target)


def webhook_secret_names(receiver: str) -> tuple[str, str]:
    """The HMAC secret of a webhook receiver: its own (`ALERT_WEBHOOK_SECRET_OPS_HOOK` for
    `ops-hook`) or else the installation's `ALERT_WEBHOOK_SECRET`."""
    own = re.sub(r"[^A-Za-z0-9]", "_", receiver).upper()
    return f"{WEBHOOK_SECRET}_{own}", WEBHOOK_SECRET


def webhook_secret(receiver: str, env: Mapping[str, str]) -> str | None:
    for name in webhook_secret_names(receiver):
        if env.get(name):
            return env[name]
    return None


def receivers(route: Route) -> dict[str, Receiver]:
    """Every receiver of the route by name (names key the alert's list of those notified)."""
    found: dict[str, Receiver] = {}
    for level in route.levels:
        for r in level.receivers:
            found.setdefault(r.name, r)
    return found


def responders(source: AlertInput) -> list[str]:
    """Who may acknowledge or silence: the alert's responders, else everyone its levels list."""
    if source.responders:
        return sorted(set(source.responders))
    return sorted({p for level in source.route.levels for p in level.people})


def repeat_receivers(source: AlertInput, notified: list[str], acker: str | None) -> list[Receiver]:
    """Who a repeat reminds: until acknowledged everyone notified so far; afterwards only the
    levels that list the person who took it (level 1's receivers if none lists them)."""
    by_name = receivers(source.route)
    if acker is None:
        return [by_name[n] for n in notified if n in by_name]
    theirs = [lv for lv in source.route.levels if acker in lv.people] or source.route.levels[:1]
    return _unique(r for lv in theirs for r in lv.receivers)


def _unique(found: Iterable[Receiver]) -> list[Receiver]:
    seen: dict[str, Receiver] = {}
    for r in found:
        seen.setdefault(r.name, r)
    return list(seen.values())


def route_problems(route: Route) -> list[str]:
    """What makes a route unusable, one sentence each (empty: none)."""
    problems: list[str] = []
    seen: dict[str, Receiver] = {}
    for number, level in enumerate(route.levels, start=1):
        if level.after < timedelta(0):
            problems.append(f"level {number}: `after` must not be negative")
        if number > 1 and level.after < route.levels[number - 2].after:
            problems.append(f"level {number}: `after` must not be earlier than level {number - 1}")
        for r in level.receivers:
            if r.name in seen and seen[r.name] != r:
                problems.append(f"receiver {r.name!r} is defined twice, differently")
            seen[r.name] = r
    if route.repeat_every < MIN_REPEAT:
        problems.append(f"repeat_every must be at least {MIN_REPEAT}")
    return problems


def delivery_problems(
    found: Iterable[Receiver], env: Mapping[str, str], *, smtp_configured: bool
) -> list[str]:
    """What keeps a receiver from delivering with this environment, one sentence each."""
    problems: list[str] = []
    for r in found:
        where = f"receiver {r.name!r} ({r.kind.value})"
        for name in placeholders(r.target):
            if not name.startswith(SECRET_PREFIX):
                problems.append(f"{where}: placeholder ${{{name}}} must start with {SECRET_PREFIX}")
            elif not env.get(name):
                problems.append(f"{where}: ${{{name}}} is not set in the environment")
        if r.kind is ReceiverKind.EMAIL:
            if not re.fullmatch(r"[^@\s]+@[^@\s]+", r.target):
                problems.append(f"{where}: target {r.target!r} is not an e-mail address")
            if not smtp_configured:
                problems.append(f"{where}: e-mail needs ALERT_SMTP_HOST")
        elif r.kind is ReceiverKind.WEBHOOK:
            if not re.match(r"^https?://", r.target):
                problems.append(f"{where}: target must be an http(s) URL")
            if webhook_secret(r.name, env) is None:
                names = " or ".join(webhook_secret_names(r.name))
                problems.append(f"{where}: set {names} (the HMAC signing secret)")
        elif r.kind is ReceiverKind.APPRISE and "://" not in r.target:
            problems.append(f"{where}: target must be an apprise URL such as slack://...")
    return problems
