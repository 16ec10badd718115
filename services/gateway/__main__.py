"""`python -m services.gateway --host H --port P [--database-url URL] [--events F] [--users F]`."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

import uvicorn
from pydantic import ValidationError

from continuum.board import DEFAULT_FILE as DEFAULT_BOARD
from continuum.board import BoardConfigError, load_board_config
from continuum.defaults import WEBHOOKS
from continuum.events.broker import events_config
from continuum.events.config import EventsConfigError
from continuum.redaction import install_redaction
from continuum.settings import get_settings
from continuum.telemetry import instrument_app
from continuum.watchdog import load_watchdog_config, severity_routes
from domain.watchdog.config import WatchdogConfigError
from services.gateway.alertmanager import MIN_TOKEN_LENGTH, AlertRouting
from services.gateway.app import GatewayConfig, create_app
from services.gateway.events import EventMap, load_secrets
from services.gateway.inbox import InboxConfig
from store import StoreError

DEFAULT_EVENTS = WEBHOOKS  # the shipped mapping; --events names another


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m services.gateway", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8103)
    parser.add_argument(
        "--database-url", default=None, help="the store; else CONTINUUM_DATABASE_URL, see settings"
    )
    parser.add_argument(
        "--db", type=Path, default=None, help="an old receipts file, imported into the store once"
    )
    parser.add_argument("--events", type=Path, default=DEFAULT_EVENTS, help="webhook mapping")
    parser.add_argument(
        "--users", type=Path, default=None, help="inbox password hashes; else INBOX_USERS_FILE"
    )
    parser.add_argument("--log-level", default="info")
    return parser.parse_args(argv)


def _fail(message: str) -> int:
    print(f"services.gateway: {message}; refusing to start", file=sys.stderr)
    return 2


def secure_cookies(host: str, setting: str) -> bool:
    """The session cookie is Secure (sent over HTTPS only) by default: a gateway reachable from
    elsewhere sits behind TLS. Only one bound to loopback, the local stack over plain HTTP, goes
    without; GATEWAY_SECURE_COOKIES=1 or 0 decides explicitly."""
    if setting.strip() in {"0", "1"}:
        return setting.strip() == "1"
    return host not in {"127.0.0.1", "localhost", "::1"}


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    try:
        events = EventMap.load(args.events)
    except (OSError, ValueError) as err:
        first = str(err).splitlines()[0] if str(err) else repr(err)
        return _fail(f"cannot load the webhook mapping {args.events}: {first}")
    try:
        secrets = load_secrets(events)
    except ValueError as err:
        return _fail(str(err))
    session_secret = os.environ.get("GATEWAY_SESSION_SECRET", "")
    if len(session_secret) < 16:
        return _fail("GATEWAY_SESSION_SECRET is not set (16 characters at least)")
    users = args.users or Path(os.environ.get("INBOX_USERS_FILE") or ".data/inbox-users.json")
    # Alertmanager's bearer token; unset, POST /alertmanager answers that it is off.
    alertmanager_token = os.environ.get("GATEWAY_ALERTMANAGER_TOKEN", "").strip() or None
    if alertmanager_token and len(alertmanager_token) < MIN_TOKEN_LENGTH:
        return _fail(
            f"GATEWAY_ALERTMANAGER_TOKEN is too short ({MIN_TOKEN_LENGTH} characters at least)"
        )
    try:
        board = load_board_config(Path(os.environ.get("BOARD_CONFIG_FILE") or DEFAULT_BOARD))
    except BoardConfigError as err:
        return _fail(str(err))
    try:
        settings = get_settings()
        policy = settings.approval_policy()
    except (ValidationError, ValueError) as err:
        return _fail(f"bad settings: {str(err).splitlines()[0]}")
    # Alertmanager's alerts take the watchdog's routes for their severity, and its responders.
    try:
        watchdog = load_watchdog_config(settings)
    except WatchdogConfigError as err:
        return _fail(str(err))
    routing = AlertRouting(routes=severity_routes(watchdog), responders=watchdog.responders)
    # Inbound events from NATS JetStream too, when the events configuration says so.
    try:
        nats = events_config().nats
    except EventsConfigError as err:
        return _fail(str(err))
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(name)s %(message)s")
    install_redaction()  # no secret, token or e-mail address in any log line
    config = GatewayConfig(
        database_url=args.database_url or settings.store_url,
        legacy_files=(*settings.legacy_store_files, *([args.db] if args.db else [])),
        events=events,
        webhook_secrets=secrets,
        session_secret=session_secret,
        people=policy.people,
        users_file=users if users.exists() else None,
        temporal_address=os.environ.get("TEMPORAL_ADDRESS") or None,
        task_queue=settings.task_queue,
        policy=policy,
        delivery_deadline_hours=settings.delivery_deadline_hours,
        inbox=InboxConfig(
            ui_url=os.environ.get("TEMPORAL_UI_URL") or None,
            namespace=os.environ.get("TEMPORAL_NAMESPACE") or "default",
        ),
        secure_cookies=secure_cookies(args.host, os.environ.get("GATEWAY_SECURE_COOKIES", "")),
        alertmanager_token=alertmanager_token,
        alert_routing=routing,
        board=board,
        watchdog_every_seconds=settings.watchdog_every_seconds,
        broker=nats if nats is not None and nats.consume else None,
    )
    try:
        app = create_app(config)
    except StoreError as err:
        return _fail(str(err))
    instrument_app(app, "gateway")  # server spans continuing the caller's W3C trace
    # One process per gateway; replicas share the store (PostgreSQL) and race safely.
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        workers=1,
        log_level=args.log_level,
        timeout_graceful_shutdown=5,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
