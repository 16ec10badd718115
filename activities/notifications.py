"""Tells approvers about reminders, escalations and expiries: a webhook when configured,
else one structured log line. Safe to repeat: each notice carries a stable idempotency key."""

from __future__ import annotations

import json
import logging

from temporalio import activity

from activities.calls import call
from domain.approvals.models import NOTIFY_APPROVERS, ApprovalNotice

log = logging.getLogger("continuum.notifications")


class NotificationActivities:
    def __init__(self, webhook_url: str | None = None, http_timeout: float = 10.0) -> None:
        self.webhook_url = webhook_url
        self.http_timeout = http_timeout

    @activity.defn(name=NOTIFY_APPROVERS)
    async def notify_approvers(self, notice: ApprovalNotice) -> ApprovalNotice:
        if self.webhook_url:
            # Imported here: workflows import this class for typed calls, and httpx (which the
            # connector needs) has no place in the workflow sandbox.
            from connectors.notify_webhook import post_notice

            await call(post_notice(self.webhook_url, notice, http_timeout=self.http_timeout))
        else:
            log.info("approval notice %s", json.dumps(notice.model_dump(mode="json")))
        return notice

    def all(self) -> list[object]:
        return [self.notify_approvers]
