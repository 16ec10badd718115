"""The alert's rules without Temporal: hysteresis as a property, who a repeat reaches, routes and
receivers that cannot work, and what a notice says (text, Alertmanager body, idempotency key)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from domain.alerts import lifecycle, notices, routing
from domain.alerts.contract import (
    AlertInput,
    AlertState,
    Level,
    Observation,
    Receiver,
    ReceiverKind,
    Route,
    Severity,
    fingerprint,
)
from domain.alerts.lifecycle import Action

T0 = datetime(2026, 12, 7, 9, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


def log(name: str) -> Receiver:
    return Receiver(name=name, kind=ReceiverKind.LOG, target=f"{name}.log")


ROUTE = Route(
    levels=[
        Level(receivers=[log("oncall")], people=["olga"]),
        Level(after=10 * MINUTE, receivers=[log("lead"), log("oncall")], people=["omar"]),
        Level(after=30 * MINUTE, receivers=[log("head")]),
    ]
)


def source(**changes: object) -> AlertInput:
    base = AlertInput(
        fingerprint=fingerprint("queue-no-worker", "continuum-orders"),
        rule="queue-no-worker",
        severity=Severity.CRITICAL,
        subject="task queue continuum-orders",
        summary="No worker polls continuum-orders",
        runbook="type=order retrying",
        route=ROUTE,
        for_=5 * MINUTE,
        clear_after=3 * MINUTE,
    )
    return base.model_copy(update=changes)


def run_until(state: AlertState, now: datetime, until: datetime) -> list[tuple[datetime, Action]]:
    """What the workflow does from `now`: act on what is due, else sleep until `wake_at`."""
    done: list[tuple[datetime, Action]] = []
    while now <= until and state.status.is_open:
        step = lifecycle.due(state, now)
        if step is None:
            wake = lifecycle.wake_at(state)
            if wake is None or wake > until:
                break
            assert wake > now, "wake_at must lie ahead when nothing is due"
            now = wake
            continue
        done.append((now, step.action))
        if step.action is Action.FIRE:
            lifecycle.fire(state, now)
        elif step.action is Action.NOTIFY:
            lifecycle.notify(state, step.level, now)
        elif step.action is Action.REPEAT:
            lifecycle.repeat(state, now)
        elif step.action is Action.END_SILENCE:
            lifecycle.end_silence(state, now)
        elif step.action is Action.RESOLVE:
            lifecycle.resolve(state, now)
        else:
            lifecycle.dismiss(state, now)
    return done


# Observations one to four minutes apart, each firing or clear.
EVALUATIONS = st.lists(st.tuples(st.integers(1, 4), st.booleans()), min_size=1, max_size=40)


@settings(max_examples=200, deadline=None)
@given(EVALUATIONS)
def test_it_fires_only_after_firing_held_for_its_for_and_resolves_only_after_clear_held(
    evaluations: list[tuple[int, bool]],
) -> None:
    alert = source()
    state = lifecycle.new_state(alert, T0)
    now, seen = T0, []
    for gap, is_firing in evaluations:
        # The timers between two evaluations, then the evaluation's signal, then what it makes due.
        run_until(state, now, now + gap * MINUTE - timedelta(seconds=1))
        now += gap * MINUTE
        lifecycle.observe(state, Observation(firing=is_firing, at=now), now)
        seen.append((now, is_firing))
        run_until(state, now, now)
    run_until(state, now, now + timedelta(hours=3))

    def held(start: datetime, end: datetime, firing: bool) -> bool:
        """The last observation at or before `start` and every one up to `end` were `firing`."""
        before = [f for t, f in seen if t <= start]
        within = [f for t, f in seen if start < t <= end]
        return bool(before) and before[-1] is firing and all(f is firing for f in within)

    if state.fired_at is not None:
        assert held(state.fired_at - alert.for_, state.fired_at, True)
    if state.resolved_at is not None:
        assert held(state.resolved_at - alert.clear_after, state.resolved_at, False)
    if state.fired_at is None:
        assert state.notified == [] and state.level == 0


def test_escalation_levels_repeats_and_who_a_repeat_reaches() -> None:
    state = lifecycle.new_state(source(for_=timedelta(0)), T0)
    lifecycle.observe(state, Observation(firing=True, at=T0), T0)
    done = run_until(state, T0, T0 + 100 * MINUTE)
    assert [(t - T0, a) for t, a in done] == [
        (timedelta(0), Action.FIRE),
        (timedelta(0), Action.NOTIFY),
        (10 * MINUTE, Action.NOTIFY),
        (30 * MINUTE, Action.NOTIFY),
        (90 * MINUTE, Action.REPEAT),  # an hour after the last page
    ]
    assert state.notified == ["oncall", "lead", "head"]  # oncall once, though on two levels
    assert routing.repeat_receivers(state.input, state.notified, None) == [
        log("oncall"),
        log("lead"),
        log("head"),
    ]
    # After omar (level 2) takes it, the reminders go to level 2's receivers only.
    assert routing.repeat_receivers(state.input, state.notified, "omar") == [
        log("lead"),
        log("oncall"),
    ]


def test_routes_and_receivers_that_cannot_work_are_named() -> None:
    bad = Route(
        levels=[
            Level(after=5 * MINUTE, receivers=[log("oncall")]),
            Level(
                after=MINUTE, receivers=[Receiver(name="oncall", kind=ReceiverKind.LOG, target="x")]
            ),
        ],
        repeat_every=timedelta(seconds=10),
    )
    assert routing.route_problems(bad) == [
        "level 2: `after` must not be earlier than level 1",
        "receiver 'oncall' is defined twice, differently",
        "repeat_every must be at least 0:01:00",
    ]
    receivers = [
        Receiver(name="mail", kind=ReceiverKind.EMAIL, target="not an address"),
        Receiver(name="hook", kind=ReceiverKind.WEBHOOK, target="ftp://x"),
        Receiver(name="chat", kind=ReceiverKind.APPRISE, target="slack://${ALERT_SLACK}/#ops"),
        Receiver(name="teams", kind=ReceiverKind.APPRISE, target="no-scheme"),
    ]
    env = {"ALERT_WEBHOOK_SECRET_HOOK": "s"}
    assert routing.delivery_problems(receivers, env, smtp_configured=True) == [
        "receiver 'mail' (email): target 'not an address' is not an e-mail address",
        "receiver 'hook' (webhook): target must be an http(s) URL",
        "receiver 'chat' (apprise): ${ALERT_SLACK} is not set in the environment",
        "receiver 'teams' (apprise): target must be an apprise URL such as slack://...",
    ]
    assert (
        routing.fill("slack://${ALERT_SLACK}/#ops", {"ALERT_SLACK": "T/B/C"})
        == "slack://T/B/C/#ops"
    )
    assert routing.webhook_secret("hook", env) == "s"
    assert routing.webhook_secret("other", env) is None


def test_a_notice_reads_well_and_keeps_its_key_per_occurrence_event_and_receiver() -> None:
    alert = source()

    def make(event: str, fired_at: datetime = T0, receiver: str = "oncall") -> notices.AlertNotice:
        kind = (
            notices.NoticeKind.ESCALATION if event.startswith("esc") else notices.NoticeKind.FIRING
        )
        return notices.notice(
            "alert-x",
            alert,
            kind,
            event=event,
            level=2,
            receiver=log(receiver),
            fired_at=fired_at,
            detail="no poller for 3 minutes",
        )

    first = make("escalation-2")
    assert first.idempotency_key == make("escalation-2").idempotency_key  # a retry, a replay
    others = [
        make("escalation-3"),
        make("escalation-2", T0 + MINUTE),
        make("escalation-2", receiver="lead"),
    ]
    keys = {n.idempotency_key for n in [first, *others]}
    assert len(keys) == 4
    assert notices.title(first) == "[CRITICAL] level 2: No worker polls continuum-orders"
    text = notices.body(first)
    assert "runbook:  type=order retrying" in text
    assert "take it:  continuum alerts ack alert-x --by <your name>" in text
    body = notices.alertmanager_payload(first)
    assert body["version"] == "4" and body["status"] == "firing"
    assert body["alerts"][0]["labels"] == {
        "alertname": "queue-no-worker",
        "severity": "critical",
        "subject": "task queue continuum-orders",
        "source": "watchdog",
    }
    assert body["alerts"][0]["endsAt"] == "0001-01-01T00:00:00Z"
    assert body["continuum"]["event"] == "escalation" and body["continuum"]["level"] == 2
