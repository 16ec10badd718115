"""Delivers one alert notice to one receiver: e-mail and apprise URLs (Slack, Teams, ...) through
apprise, a signed webhook with Alertmanager's body, or a log file.

One receiver per call, so Temporal retries each channel on its own and a failing one holds back
nobody. Secrets (SMTP password, webhook secrets, `${ALERT_...}` parts of apprise URLs) come from
the environment through `DeliveryConfig`, never from the notice or the history.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from temporalio import activity

from activities.calls import call
from domain.alerts import notices, routing
from domain.alerts.contract import ReceiverKind
from domain.alerts.notices import DELIVER_ALERT, AlertNotice, DeliveryReceipt
from domain.errors import InvalidRequestError

if TYPE_CHECKING:
    from connectors.alert_channels import SmtpServer

SYSTEM = "alert-delivery"


@dataclass(frozen=True)
class DeliveryConfig:
    # Where LOG receivers write: an empty target here, a relative one beside it.
    log_file: Path
    smtp: SmtpServer | None = None
    # ALERT_* variables: webhook secrets and the `${ALERT_...}` parts of apprise URLs.
    secrets: Mapping[str, str] = field(default_factory=dict)
    http_timeout: float = 10.0


class AlertDelivery:
    def __init__(self, config: DeliveryConfig) -> None:
        self.config = config

    @activity.defn(name=DELIVER_ALERT)
    async def deliver_alert(self, notice: AlertNotice) -> DeliveryReceipt:
        receiver = notice.receiver
        kind = receiver.kind
        if kind is ReceiverKind.LOG:
            answer = await self._log(notice)
        elif kind is ReceiverKind.WEBHOOK:
            answer = await call(self._webhook(notice))
        elif kind is ReceiverKind.EMAIL:
            answer = await call(self._email(notice))
        else:
            answer = await call(self._apprise(notice))
        activity.logger.info("alert %s to %s: %s", notice.alert_id, receiver.name, answer)
        return DeliveryReceipt(receiver=receiver.name, answer=answer)

    async def _log(self, notice: AlertNotice) -> str:
        # Imported here, as every connector below: workflows import this class for typed calls.
        from connectors.alert_log import append

        target = notice.receiver.target.strip()
        path = self.config.log_file.parent / target if target else self.config.log_file
        record = {
            "title": notices.title(notice),
            **notice.model_dump(mode="json", exclude={"receiver"}),
            "receiver": notice.receiver.name,
        }
        return await asyncio.to_thread(append, path, record)

    async def _webhook(self, notice: AlertNotice) -> str:
        from connectors.alert_webhook import post_alert

        name = notice.receiver.name
        secret = routing.webhook_secret(name, self.config.secrets)
        if secret is None:
            names = " or ".join(routing.webhook_secret_names(name))
            raise InvalidRequestError(SYSTEM, "NoSecret", f"{name}: set {names} to sign its posts")
        payload = notices.alertmanager_payload(notice)
        return await post_alert(
            notice.receiver.target,
            secret,
            payload,
            notice.idempotency_key,
            http_timeout=self.config.http_timeout,
        )

    async def _email(self, notice: AlertNotice) -> str:
        from connectors.alert_channels import send_email

        if self.config.smtp is None:
            raise InvalidRequestError(
                SYSTEM, "NoSmtp", f"{notice.receiver.name}: e-mail needs ALERT_SMTP_HOST"
            )
        headers = {"X-Continuum-Alert": notice.alert_id, "Idempotency-Key": notice.idempotency_key}
        return await send_email(
            self.config.smtp,
            notice.receiver.target,
            notices.title(notice),
            notices.body(notice),
            headers,
        )

    async def _apprise(self, notice: AlertNotice) -> str:
        from connectors.alert_channels import send_url

        target = notice.receiver.target
        wanted = routing.placeholders(target)
        if problems := routing.delivery_problems(
            [notice.receiver], self.config.secrets, smtp_configured=True
        ):
            raise InvalidRequestError(SYSTEM, "BadReceiver", "; ".join(problems))
        url = routing.fill(target, self.config.secrets)
        secrets = [self.config.secrets[name] for name in wanted]
        return await send_url(url, notices.title(notice), notices.body(notice), secrets)

    def all(self) -> list[Callable[..., Any]]:
        return [self.deliver_alert]
