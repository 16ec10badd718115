"""What the ops worker runs for alerts: the Alert workflow, its delivery (configured from the
settings and the environment's ALERT_* secrets) and the hand-over of its business events."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from temporalio.client import Client

from activities.alerts.delivery import AlertDelivery, DeliveryConfig
from activities.events.handover import EventHandover
from connectors.alert_channels import SmtpServer
from continuum.settings import Settings
from domain.alerts import routing
from domain.alerts.contract import Receiver
from workers.events import events_enabled
from workflows.alerts.alert import Alert

ALERT_WORKFLOWS: Sequence[type] = [Alert]


def _secrets(environ: Mapping[str, str]) -> dict[str, str]:
    # Only ALERT_* names: a receiver's placeholder can reach nothing else of the environment.
    return {k: v for k, v in environ.items() if k.startswith(routing.SECRET_PREFIX) and v}


def delivery_config(settings: Settings, environ: Mapping[str, str] | None = None) -> DeliveryConfig:
    smtp = None
    if settings.alert_smtp_host:
        smtp = SmtpServer(
            host=settings.alert_smtp_host,
            port=settings.alert_smtp_port,
            security=settings.alert_smtp_security,
            user=settings.alert_smtp_user,
            password=settings.alert_smtp_password.get_secret_value() or None,
            sender=settings.alert_smtp_from,
        )
    return DeliveryConfig(
        log_file=settings.alert_log_path,
        smtp=smtp,
        secrets=_secrets(os.environ if environ is None else environ),
        http_timeout=settings.http_timeout_seconds,
    )


def alert_activities(
    client: Client, settings: Settings, environ: Mapping[str, str] | None = None
) -> list[Callable[..., Any]]:
    return [
        *AlertDelivery(delivery_config(settings, environ)).all(),
        # alert.fired/escalated/acknowledged/resolved.v1, when events are configured.
        *EventHandover(client, events_enabled(settings)).all(),
    ]


def receiver_problems(
    settings: Settings, receivers: Iterable[Receiver], environ: Mapping[str, str] | None = None
) -> list[str]:
    """Why configured receivers could not deliver here (missing secrets, no SMTP server), one
    sentence each: for the ops worker to refuse to start rather than page into the void."""
    env = _secrets(os.environ if environ is None else environ)
    return routing.delivery_problems(
        receivers, env, smtp_configured=settings.alert_smtp_host is not None
    )
