"""The Alert process on the time-skipping server: hysteresis, escalation on durable timers,
acknowledgement, silence, repeats, resolution, dedupe, a failing channel, continue-as-new and the
validators' refusals. Pages go to real receivers: log files and an HTTP webhook receiver."""

from __future__ import annotations

import threading
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio import activity, workflow
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.alerts.delivery import AlertDelivery
from domain.alerts import contract, lifecycle, notices
from domain.alerts.contract import (
    Acknowledgement,
    AlertInput,
    AlertStatus,
    Level,
    Observation,
    Receiver,
    ReceiverKind,
    Route,
    Silence,
)
from tests.workflows.alert_support import (
    Handle,
    Logs,
    alert_input,
    alert_worker,
    clear,
    end_all,
    events,
    firing,
    log_receiver,
    notified,
    observe,
    wait_state,
    webhook_receiver,
)
from workflows.alerts.alert import Alert

SECRET = "alert-test-secret"


@dataclass
class Ops:
    """One test's ops queue on the time-skipping server; every alert it raised ends with it."""

    env: WorkflowEnvironment
    logs: Logs
    task_queue: str = field(default_factory=lambda: f"ops-{uuid.uuid4().hex[:8]}")
    raised: set[str] = field(default_factory=set)

    def worker(self, **config: Any) -> Worker:
        return alert_worker(self.env.client, self.task_queue, self.logs.config(**config))

    async def observe(self, source: AlertInput, seen: Observation) -> Handle:
        handle = await observe(self.env.client, source, seen, self.task_queue)
        self.raised.add(handle.id)
        return handle

    def latest(self, handle: Handle) -> Handle:
        """The alert's current run (after a continue-as-new)."""
        return self.env.client.get_workflow_handle_for(Alert.run, handle.id)


@pytest.fixture
async def ops(ts_env: WorkflowEnvironment, tmp_path: Path) -> AsyncIterator[Ops]:
    found = Ops(ts_env, Logs(tmp_path))
    try:
        yield found
    finally:
        await end_all(ts_env.client, found.raised)


def minutes(delta: timedelta) -> int:
    """A timer's workflow task runs a moment after the timer: compare at minute precision."""
    return round(delta.total_seconds() / 60)


async def refused(handle: Handle, update: object, arg: object) -> str:
    with pytest.raises(WorkflowUpdateFailedError) as failure:
        await handle.execute_update(update, arg)  # type: ignore[call-overload]
    cause = failure.value.cause
    assert isinstance(cause, ApplicationError)
    return cause.message


async def test_escalates_level_1_then_2_then_3_on_durable_timers(ops: Ops) -> None:
    logs = ops.logs
    async with ops.worker():
        handle = await ops.observe(alert_input(), firing())
        state = await wait_state(handle, lambda s: notified(s) == ["oncall"])
        assert state.status is AlertStatus.FIRING and state.level == 1 and state.fired_at
        fired = state.fired_at
        await ops.env.sleep(timedelta(minutes=10))
        state = await wait_state(handle, lambda s: notified(s) == ["oncall", "lead"])
        assert state.level == 2
        await ops.env.sleep(timedelta(minutes=20))
        state = await wait_state(handle, lambda s: notified(s) == ["oncall", "lead", "head"])
    escalated = [(e.level, minutes(e.at - fired)) for e in state.timeline if e.event == "escalated"]
    assert escalated == [(2, 10), (3, 30)]
    assert state.notified == ["oncall", "lead", "head"] and state.status is AlertStatus.FIRING
    pages = [
        (line["kind"], line["level"]) for n in ("oncall", "lead", "head") for line in logs.lines(n)
    ]
    assert pages == [("firing", 1), ("escalation", 2), ("escalation", 3)]
    # Each channel's answer is in the audit.
    answers = [e.detail for e in state.timeline if e.event == "notified"]
    assert answers == [f"written to {logs.directory}/{n}.log" for n in ("oncall", "lead", "head")]


async def test_acknowledgement_stops_escalation_and_repeats_go_to_whoever_took_it(ops: Ops) -> None:
    logs = ops.logs
    async with ops.worker():
        handle = await ops.observe(alert_input(), firing())
        await wait_state(handle, lambda s: notified(s) == ["oncall"])
        await ops.env.sleep(timedelta(minutes=3))
        taken = await handle.execute_update(Alert.acknowledge, Acknowledgement(by="olga"))
        assert taken.status is AlertStatus.ACKNOWLEDGED and taken.acknowledged_by == "olga"
        # Two and a half hours: levels 2 and 3 were due at 10 and 30 minutes, repeats hourly.
        await ops.env.sleep(timedelta(hours=2, minutes=30))
        state = await wait_state(handle, lambda s: s.repeats == 2 and len(notified(s)) == 3)
    assert state.level == 1 and "escalated" not in [e.event for e in state.timeline]
    assert notified(state) == ["oncall", "oncall", "oncall"]  # olga is on level 1
    assert [line["kind"] for line in logs.lines("oncall")] == ["firing", "repeat", "repeat"]
    assert logs.lines("lead") == [] and logs.lines("head") == []
    ack = next(e for e in state.timeline if e.event == "acknowledged")
    assert ack.by == "olga" and state.status is AlertStatus.ACKNOWLEDGED


async def test_repeats_remind_everyone_notified_at_the_routes_interval(ops: Ops) -> None:
    logs = ops.logs
    async with ops.worker():
        handle = await ops.observe(alert_input(), firing())
        first = await wait_state(handle, lambda s: notified(s) == ["oncall"])
        assert first.fired_at
        # Level 3 pages at 30 minutes; a repeat comes an hour after the last page.
        await ops.env.sleep(timedelta(minutes=95))
        state = await wait_state(handle, lambda s: s.repeats == 1 and len(notified(s)) == 6)
    repeat = next(e for e in state.timeline if e.event == "repeated")
    assert minutes(repeat.at - first.fired_at) == 90
    assert sorted(notified(state)[3:]) == ["head", "lead", "oncall"]
    assert [line["kind"] for line in logs.lines("lead")] == ["escalation", "repeat"]


async def test_silence_holds_every_page_until_it_ends(ops: Ops) -> None:
    async with ops.worker():
        handle = await ops.observe(alert_input(), firing())
        first = await wait_state(handle, lambda s: notified(s) == ["oncall"])
        assert first.fired_at
        quiet = Silence(by="omar", duration=timedelta(hours=2), reason="ERP maintenance window")
        silenced = await handle.execute_update(Alert.silence, quiet)
        assert silenced.status is AlertStatus.SILENCED and silenced.silenced_until
        await ops.env.sleep(timedelta(hours=1))
        during = await handle.query(Alert.state)
        assert during.status is AlertStatus.SILENCED and notified(during) == ["oncall"]
        await ops.env.sleep(timedelta(hours=1, minutes=5))
        state = await wait_state(handle, lambda s: len(notified(s)) == 3)
    # What fell due during the silence pages when it ends: levels 2 and 3 at once.
    assert state.status is AlertStatus.FIRING and state.silenced_until is None
    order = [e for e in events(state, "silenced", "silence-ended", "escalated")]
    assert order == [("silenced", None, None), ("silence-ended", None, None),
                     ("escalated", 2, None), ("escalated", 3, None)]  # fmt: skip
    ended = next(e for e in state.timeline if e.event == "silence-ended")
    assert minutes(ended.at - first.fired_at) == 120
    silenced_entry = next(e for e in state.timeline if e.event == "silenced")
    assert silenced_entry.by == "omar" and "ERP maintenance window" in silenced_entry.detail


async def test_resolve_tells_everyone_notified_and_ends_the_alert(ops: Ops) -> None:
    logs = ops.logs
    source = alert_input()
    async with ops.worker():
        handle = await ops.observe(source, firing())
        await ops.env.sleep(timedelta(minutes=12))
        await wait_state(handle, lambda s: notified(s) == ["oncall", "lead"])
        await ops.observe(source, clear())
        final = await handle.result()  # the server skips the five minutes of clear_after
    assert final.status is AlertStatus.RESOLVED and final.resolved_at and final.fired_at
    cleared = next(e for e in final.timeline if e.event == "observed-clear")
    assert minutes(final.resolved_at - cleared.at) == 5
    assert [line["kind"] for line in logs.lines("oncall")] == ["firing", "resolved"]
    assert [line["kind"] for line in logs.lines("lead")] == ["escalation", "resolved"]
    assert logs.lines("head") == []  # never paged, so not told either
    resolved_notices = [e.receiver for e in final.timeline if e.event == "notified"][2:]
    assert sorted(resolved_notices) == ["lead", "oncall"]  # type: ignore[type-var]


async def test_the_same_condition_twice_is_one_alert_and_one_page(ops: Ops) -> None:
    logs = ops.logs
    source = alert_input()
    async with ops.worker():
        first = await ops.observe(source, firing())
        second = await ops.observe(source, firing("still stalled"))
        assert second.first_execution_run_id == first.first_execution_run_id
        state = await wait_state(first, lambda s: s.last_detail == "still stalled")
        state = await wait_state(first, lambda s: notified(s) == ["oncall"])
    assert [line["kind"] for line in logs.lines("oncall")] == ["firing"]
    assert events(state, "observed-firing", "fired") == [
        ("observed-firing", None, None),
        ("fired", None, None),
    ]


async def test_it_fires_only_after_firing_held_for_its_for_and_resolves_after_clear_held(
    ops: Ops,
) -> None:
    source = alert_input(for_=timedelta(minutes=5))
    async with ops.worker():
        handle = await ops.observe(source, firing())
        await ops.env.sleep(timedelta(minutes=3))
        await ops.observe(source, clear())  # flaps clear before five minutes
        await ops.env.sleep(timedelta(minutes=3))
        await ops.observe(source, firing())
        await ops.observe(source, firing())  # a second evaluation: no new timeline entry
        await ops.env.sleep(timedelta(minutes=3))
        pending = await handle.query(Alert.state)
        assert pending.status is AlertStatus.PENDING and pending.fired_at is None
        await ops.env.sleep(timedelta(minutes=3))
        state = await wait_state(handle, lambda s: notified(s) == ["oncall"])
        assert state.fired_at and state.firing_since
        assert minutes(state.fired_at - state.firing_since) == 5
        # Clear for three minutes (less than clear_after), then firing again: still open.
        await ops.observe(source, clear())
        await ops.env.sleep(timedelta(minutes=3))
        await ops.observe(source, firing())
        await ops.env.sleep(timedelta(minutes=3))
        still = await handle.query(Alert.state)
        assert still.status is AlertStatus.FIRING and still.resolved_at is None
        await ops.observe(source, clear())
        final = await handle.result()
    assert final.status is AlertStatus.RESOLVED
    assert events(final, "observed-firing", "observed-clear") == [
        ("observed-firing", None, None),
        ("observed-clear", None, None),
        ("observed-firing", None, None),
        ("observed-clear", None, None),
        ("observed-firing", None, None),
        ("observed-clear", None, None),
    ]


async def test_a_condition_that_clears_before_it_fires_is_dismissed_without_a_page(
    ops: Ops,
) -> None:
    logs = ops.logs
    source = alert_input(for_=timedelta(minutes=10))
    async with ops.worker():
        handle = await ops.observe(source, firing())
        await ops.observe(source, clear())
        final = await handle.result()
        # A late clear for an alert that is over starts nothing that pages.
        late = await ops.observe(alert_input(), clear())
        assert (await late.result()).status is AlertStatus.DISMISSED
    assert final.status is AlertStatus.DISMISSED and final.fired_at is None
    assert final.notified == [] and logs.lines("oncall") == []


async def test_validators_refuse_with_the_reason(ops: Ops) -> None:
    source = alert_input(for_=timedelta(minutes=5))
    async with ops.worker():
        handle = await ops.observe(source, firing())
        early = await refused(handle, Alert.acknowledge, Acknowledgement(by="olga"))
        assert early == "the alert has not fired yet: nothing to acknowledge"
        await ops.env.sleep(timedelta(minutes=5))
        await wait_state(handle, lambda s: notified(s) == ["oncall"])
        stranger = await refused(handle, Alert.acknowledge, Acknowledgement(by="zed"))
        assert (
            stranger == "'zed' may not acknowledge this alert: not one of its people (olga, omar)"
        )
        nobody = await refused(handle, Alert.acknowledge, Acknowledgement(by=" "))
        assert nobody == "say who is to acknowledge the alert"
        no_reason = Silence(by="olga", duration=timedelta(hours=1), reason="  ")
        assert await refused(handle, Alert.silence, no_reason) == "a silence needs a reason"
        too_long = Silence(by="olga", duration=timedelta(days=8), reason="holiday")
        assert await refused(handle, Alert.silence, too_long) == "a silence may last at most 7 days"
        await handle.execute_update(Alert.acknowledge, Acknowledgement(by="omar"))
        again = await refused(handle, Alert.acknowledge, Acknowledgement(by="olga"))
        assert again.startswith("the alert was already acknowledged by omar at ")
        state = await handle.query(Alert.state)
    # Refusals change nothing: one acknowledgement, no silence.
    assert [e.event for e in state.timeline].count("acknowledged") == 1
    assert state.silenced_until is None


async def test_a_failing_channel_is_retried_and_does_not_hold_back_the_next_level(ops: Ops) -> None:
    with webhook_receiver(SECRET, statuses=[503] * 1000) as hook:
        route = Route(
            levels=[
                Level(
                    receivers=[
                        Receiver(name="ops-hook", kind=ReceiverKind.WEBHOOK, target=hook.url)
                    ]
                ),
                Level(after=timedelta(minutes=5), receivers=[log_receiver("lead")]),
            ]
        )
        async with ops.worker(secrets={"ALERT_WEBHOOK_SECRET": SECRET}):
            handle = await ops.observe(alert_input(route), firing())
            await ops.env.sleep(timedelta(minutes=5))
            state = await wait_state(handle, lambda s: "lead" in notified(s))
            assert "ops-hook" not in notified(state) and hook.attempts >= 2
            escalated = next(e for e in state.timeline if e.event == "escalated")
            assert state.fired_at and minutes(escalated.at - state.fired_at) == 5  # on time
            hook.statuses.clear()  # the receiver is back
            await ops.env.sleep(timedelta(minutes=3))  # the longest backoff is two minutes
            state = await wait_state(handle, lambda s: "ops-hook" in notified(s))
    assert notified(state) == ["lead", "ops-hook"]
    answer = next(e.detail for e in state.timeline if e.receiver == "ops-hook")
    assert answer == "HTTP 200 from 127.0.0.1"
    assert len(hook.received) == 1 and hook.received[0].signed
    body = hook.received[0].payload
    assert (
        body["status"] == "firing" and body["alerts"][0]["labels"]["alertname"] == "order-stalled"
    )


async def test_a_firing_while_the_resolution_goes_out_starts_a_new_occurrence(ops: Ops) -> None:
    with webhook_receiver(SECRET) as hook:
        hook_receiver = Receiver(name="ops-hook", kind=ReceiverKind.WEBHOOK, target=hook.url)
        route = Route(levels=[Level(receivers=[hook_receiver], people=["olga"])])
        source = alert_input(route, clear_after=timedelta(minutes=1))
        async with ops.worker(secrets={"ALERT_WEBHOOK_SECRET": SECRET}):
            handle = await ops.observe(source, firing())
            await wait_state(handle, lambda s: notified(s) == ["ops-hook"])
            hook.hold = threading.Event()  # the resolution's post waits at the receiver
            await ops.observe(source, clear())
            await ops.env.sleep(timedelta(minutes=1))
            resolved = await wait_state(handle, lambda s: s.status is AlertStatus.RESOLVED)
            closed = await refused(handle, Alert.acknowledge, Acknowledgement(by="olga"))
            assert closed.startswith("the alert is resolved since ")
            assert closed.endswith(": nothing to acknowledge")
            await ops.observe(source, firing("stalled again"))
            hook.hold.set()
            hook.hold = None
            latest = ops.latest(handle)
            again = await wait_state(latest, lambda s: notified(s) == ["ops-hook"])
    assert resolved.fired_at and again.fired_at and again.fired_at > resolved.fired_at
    assert again.status is AlertStatus.FIRING and again.last_detail == "stalled again"
    assert [r.payload["status"] for r in hook.received] == ["firing", "resolved", "firing"]
    keys = hook.keys()
    assert len(set(keys)) == 3  # the new occurrence's page is not taken for a copy of the first


async def test_a_long_alert_continues_as_new_with_its_state(
    ops: Ops, monkeypatch: pytest.MonkeyPatch
) -> None:
    # domain.alerts.lifecycle passes through the sandbox: the workflow reads this very module.
    monkeypatch.setattr(lifecycle, "CONTINUE_AFTER_EVENTS", 40)
    logs = ops.logs
    source = alert_input()
    async with ops.worker():
        first = await ops.observe(source, firing())
        before = await wait_state(first, lambda s: notified(s) == ["oncall"])
        for n in range(15):
            await ops.observe(source, firing(f"evaluation {n}"))
        latest = ops.latest(first)
        carried = await wait_state(latest, lambda s: s.last_detail == "evaluation 14")
        run = (await latest.describe()).run_id
        assert run != first.first_execution_run_id
        await ops.env.sleep(timedelta(minutes=10))
        state = await wait_state(latest, lambda s: notified(s) == ["oncall", "lead"])
    assert carried.fired_at == before.fired_at and carried.notified == ["oncall"]
    assert state.input.resume is None and state.level == 2
    escalated = next(e for e in state.timeline if e.event == "escalated")
    assert before.fired_at and minutes(escalated.at - before.fired_at) == 10
    assert [line["kind"] for line in logs.lines("oncall")] == ["firing"]  # nothing paged twice


async def test_an_alertmanager_alert_takes_a_resend_as_a_repeat_and_resolves_on_one_clear(
    ops: Ops,
) -> None:
    # Prometheus's `for` already held: for_=0, clear_after=0; Alertmanager resends a firing
    # alert about hourly with the same startsAt, and sends its resolution once.
    source = alert_input(source="alertmanager", for_=timedelta(0), clear_after=timedelta(0))
    starts_at = firing("worker has no pollers")
    async with ops.worker():
        handle = await ops.observe(source, starts_at)
        await wait_state(handle, lambda s: notified(s) == ["oncall"])
        await ops.env.sleep(timedelta(minutes=5))
        await ops.observe(source, starts_at)  # the resend
        await ops.env.sleep(timedelta(minutes=5))
        await ops.observe(source, starts_at)
        await wait_state(handle, lambda s: notified(s) == ["oncall", "lead"])
        await ops.observe(source, clear())
        final = await handle.result()
    assert final.status is AlertStatus.RESOLVED and final.resolved_at
    cleared = next(e for e in final.timeline if e.event == "observed-clear")
    assert final.resolved_at == cleared.at  # at once, on the single clear
    assert [e.event for e in final.timeline].count("observed-firing") == 1
    assert [line["kind"] for line in ops.logs.lines("oncall")] == ["firing", "resolved"]


def test_the_alert_handles_exactly_its_contracts_messages_and_its_activity_keeps_its_name(
    tmp_path: Path,
) -> None:
    defn = workflow._Definition.must_from_class(Alert)
    assert defn.name == contract.WORKFLOW_NAME
    handled = {n for n in (*defn.queries, *defn.signals, *defn.updates) if n is not None}
    declared = {v for k, v in vars(contract.Message).items() if not k.startswith("_")}
    assert handled == declared
    [deliver] = AlertDelivery(Logs(tmp_path).config()).all()
    assert activity._Definition.must_from_callable(deliver).name == deliver.__name__
    assert deliver.__name__ == notices.DELIVER_ALERT
