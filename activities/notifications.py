"""Tells people about a process: approvers about reminders, escalations and expiries, the
purchasing roles about an overdue supplier. A webhook when configured, else one structured log
line. Safe to repeat: each notice carries a stable idempotency key."""

from __future__ import annotations

import json
import logging
from typing import Protocol, cast

from temporalio import activity

from activities.calls import call
from domain.approvals.models import NOTIFY_APPROVERS, ApprovalNotice

log = logging.getLogger("continuum.notifications")


class Notice(Protocol):
    idempotency_key: str

    def model_dump(self, *, mode: str) -> dict[str, object]: ...


class Notifier:
    """Delivers a notice: to the webhook when one is configured, else to the log."""

    def __init__(self, webhook_url: str | None = None, http_timeout: float = 10.0) -> None:
        self.webhook_url = webhook_url
        self.http_timeout = http_timeout

    async def send(self, what: str, notice: Notice) -> None:
        if self.webhook_url:
            # Imported here: workflows import the activity classes for typed calls, and httpx
            # (which the connector needs) has no place in the workflow sandbox.
            from connectors.notify_webhook import post_notice

            # The connector is typed for approval notices but posts any notice's JSON with its
            # idempotency key (a purchase notice has the same shape of delivery).
            await call(
                post_notice(
                    self.webhook_url, cast(ApprovalNotice, notice), http_timeout=self.http_timeout
                )
            )
        else:
            log.info("%s %s", what, json.dumps(notice.model_dump(mode="json")))


class NotificationActivities:
    def __init__(self, webhook_url: str | None = None, http_timeout: float = 10.0) -> None:
        self.notifier = Notifier(webhook_url, http_timeout)

    @activity.defn(name=NOTIFY_APPROVERS)
    async def notify_approvers(self, notice: ApprovalNotice) -> ApprovalNotice:
        await self.notifier.send("approval notice", notice)
        return notice

    def all(self) -> list[object]:
        return [self.notify_approvers]
