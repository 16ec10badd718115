"""An alert's rules, pure: hysteresis, when to fire, escalate, repeat, resolve, and who may take it.

The workflow (`workflows/alerts/alert.py`) asks `due` what to do now and `wake_at` when to ask
again; everything it decides is written into the `AlertState` (the timeline is the audit), so a
replay, a query and a continue-as-new all see the same alert.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from domain.alerts.contract import (
    Acknowledgement,
    AlertInput,
    AlertState,
    AlertStatus,
    Observation,
    Receiver,
    Silence,
    TimelineEntry,
)
from domain.alerts.routing import MAX_SILENCE, repeat_receivers, responders

# A long-firing alert gets a signal per watchdog run; past this many history events it carries
# its state into a fresh run (Temporal's hard limit is 51,200 events).
CONTINUE_AFTER_EVENTS = 10_000

# Timeline events that change the status (StateSince is the time of the last one).
_STATUS_EVENTS = {"fired", "acknowledged", "silenced", "silence-ended", "resolved", "dismissed"}


class Action(StrEnum):
    FIRE = "fire"
    NOTIFY = "notify"  # a level: 1 when it fires, then escalation
    REPEAT = "repeat"
    END_SILENCE = "end-silence"
    RESOLVE = "resolve"
    DISMISS = "dismiss"


@dataclass(frozen=True)
class Due:
    action: Action
    level: int = 0


def new_state(source: AlertInput, now: datetime) -> AlertState:
    if source.resume is not None:
        return source.resume.model_copy(
            update={"input": source.model_copy(update={"resume": None})}
        )
    return AlertState(input=source, status=AlertStatus.PENDING, first_observed=now)


def carried(state: AlertState) -> AlertInput:
    """The input of the next run when the workflow continues as new: the state rides along."""
    return state.input.model_copy(update={"resume": state})


def reopened(state: AlertState, at: datetime, detail: str) -> AlertInput:
    """A firing observed after the alert resolved: a new occurrence, pending again."""
    fresh = AlertState(
        input=state.input,
        status=AlertStatus.PENDING,
        first_observed=at,
        firing_since=at,
        last_detail=detail,
        timeline=[TimelineEntry(at=at, event="observed-firing", detail=detail)],
    )
    return carried(fresh)


def _note(state: AlertState, at: datetime, event: str, **fields: object) -> None:
    state.timeline.append(TimelineEntry.model_validate({"at": at, "event": event, **fields}))


def refresh(state: AlertState, now: datetime) -> None:
    """The status follows from the facts (fired, acknowledged, silenced) until the alert ends."""
    if not state.status.is_open:
        return
    if state.silenced_until is not None and now < state.silenced_until:
        state.status = AlertStatus.SILENCED
    elif state.acknowledged_at is not None:
        state.status = AlertStatus.ACKNOWLEDGED
    elif state.fired_at is not None:
        state.status = AlertStatus.FIRING
    else:
        state.status = AlertStatus.PENDING


def status_since(state: AlertState) -> datetime:
    changes = [e.at for e in state.timeline if e.event in _STATUS_EVENTS]
    return changes[-1] if changes else state.first_observed


def observe(state: AlertState, seen: Observation, now: datetime) -> None:
    """Only transitions go into the timeline: a condition firing for a day is one entry, not
    one per watchdog run."""
    state.last_detail = seen.detail or state.last_detail
    if seen.firing:
        state.clear_since = None
        if state.firing_since is None:
            state.firing_since = now
            _note(state, now, "observed-firing", detail=seen.detail)
    else:
        state.firing_since = None
        if state.clear_since is None:
            state.clear_since = now
            _note(state, now, "observed-clear", detail=seen.detail)


def _ever_firing(state: AlertState) -> bool:
    return state.firing_since is not None or any(
        e.event == "observed-firing" for e in state.timeline
    )


def due(state: AlertState, now: datetime) -> Due | None:
    """What the alert must do at `now`, one step at a time (None: wait for `wake_at`)."""
    source = state.input
    if not state.status.is_open:
        return None
    if state.silenced_until is not None and now >= state.silenced_until:
        return Due(Action.END_SILENCE)
    if state.fired_at is None:
        if state.firing_since is not None:
            return Due(Action.FIRE) if now >= state.firing_since + source.for_ else None
        # Raised by a clear only (a late clear after it ended): there is nothing to watch.
        if not _ever_firing(state):
            return Due(Action.DISMISS)
        if state.clear_since is not None and now >= state.clear_since + source.clear_after:
            return Due(Action.DISMISS)
        return None
    if state.clear_since is not None and now >= state.clear_since + source.clear_after:
        return Due(Action.RESOLVE)
    # Clearing (waiting out `clear_after`) or silenced: nobody is paged meanwhile.
    if state.clear_since is not None or state.status is AlertStatus.SILENCED:
        return None
    if state.level == 0:
        return Due(Action.NOTIFY, 1)
    levels = source.route.levels
    nxt = state.level  # index of the next level
    escalating = state.acknowledged_at is None and nxt < len(levels)
    if escalating and now >= state.fired_at + levels[nxt].after:
        return Due(Action.NOTIFY, nxt + 1)
    if state.repeated_at is not None and now >= state.repeated_at + source.route.repeat_every:
        return Due(Action.REPEAT)
    return None


def wake_at(state: AlertState) -> datetime | None:
    """The next time `due` may answer differently without a new observation or update."""
    source = state.input
    if not state.status.is_open:
        return None
    times: list[datetime] = []
    if state.silenced_until is not None:
        times.append(state.silenced_until)
    if state.fired_at is None:
        if state.firing_since is not None:
            times.append(state.firing_since + source.for_)
        elif state.clear_since is not None:
            times.append(state.clear_since + source.clear_after)
    elif state.clear_since is not None:
        times.append(state.clear_since + source.clear_after)
    elif state.status is not AlertStatus.SILENCED:
        levels = source.route.levels
        if state.acknowledged_at is None and state.level < len(levels):
            times.append(state.fired_at + levels[state.level].after)
        if state.repeated_at is not None:
            times.append(state.repeated_at + source.route.repeat_every)
    return min(times) if times else None


# --- what each action changes --------------------------------------------------------------


def fire(state: AlertState, now: datetime) -> None:
    state.fired_at = now
    state.repeated_at = now
    _note(state, now, "fired", detail=state.last_detail)
    refresh(state, now)


def notify(state: AlertState, level: int, now: datetime) -> list[Receiver]:
    """Level `level` is told now: its receivers (each joins those told on resolve)."""
    state.level = level
    state.repeated_at = now  # a page is also the latest reminder: no repeat right behind it
    found = state.input.route.levels[level - 1].receivers
    if level > 1:
        detail = "" if found else "no receivers at this level"
        _note(state, now, "escalated", level=level, detail=detail)
    for r in found:
        if r.name not in state.notified:
            state.notified.append(r.name)
    return list(found)


def repeat(state: AlertState, now: datetime) -> list[Receiver]:
    state.repeated_at = now
    state.repeats += 1
    _note(state, now, "repeated", detail=f"reminder {state.repeats}")
    return repeat_receivers(state.input, state.notified, state.acknowledged_by)


def end_silence(state: AlertState, now: datetime) -> None:
    state.silenced_until = None
    _note(state, now, "silence-ended")
    refresh(state, now)


def resolve(state: AlertState, now: datetime) -> list[Receiver]:
    """Resolved: everyone who was told hears it (a silence does not hold this back: the alert
    ends here, and those paged earlier would otherwise never learn it is over)."""
    state.status = AlertStatus.RESOLVED
    state.resolved_at = now
    state.silenced_until = None
    _note(state, now, "resolved", detail=state.last_detail)
    return repeat_receivers(state.input, state.notified, None)


def dismiss(state: AlertState, now: datetime) -> None:
    state.status = AlertStatus.DISMISSED
    _note(state, now, "dismissed", detail="cleared before it fired: nobody was paged")


def delivered(state: AlertState, at: datetime, level: int, receiver: str, answer: str) -> None:
    _note(state, at, "notified", level=level, receiver=receiver, detail=answer)


def delivery_failed(state: AlertState, at: datetime, level: int, receiver: str, why: str) -> None:
    _note(state, at, "delivery-failed", level=level, receiver=receiver, detail=why)


# --- people ----------------------------------------------------------------------------------


def _closed(state: AlertState, verb: str) -> str | None:
    if state.status.is_open:
        return None
    when = state.resolved_at or status_since(state)
    return f"the alert is {state.status.value.lower()} since {when.isoformat()}: nothing to {verb}"


def _person(state: AlertState, by: str, verb: str) -> str | None:
    if not by.strip():
        return f"say who is to {verb} the alert"
    allowed = responders(state.input)
    if not allowed:
        return f"nobody may {verb} this alert: its route lists no people"
    if by not in allowed:
        return f"{by!r} may not {verb} this alert: not one of its people ({', '.join(allowed)})"
    return None


def acknowledge_problem(state: AlertState, ack: Acknowledgement) -> str | None:
    if problem := _closed(state, "acknowledge") or _person(state, ack.by, "acknowledge"):
        return problem
    if state.fired_at is None:
        return "the alert has not fired yet: nothing to acknowledge"
    if state.acknowledged_at is not None:
        at = state.acknowledged_at.isoformat()
        return f"the alert was already acknowledged by {state.acknowledged_by} at {at}"
    return None


def acknowledge(state: AlertState, ack: Acknowledgement, now: datetime) -> None:
    state.acknowledged_at = now
    state.acknowledged_by = ack.by
    _note(state, now, "acknowledged", by=ack.by, detail=ack.comment)
    refresh(state, now)


def silence_problem(state: AlertState, quiet: Silence) -> str | None:
    if problem := _closed(state, "silence") or _person(state, quiet.by, "silence"):
        return problem
    if not quiet.reason.strip():
        return "a silence needs a reason"
    if quiet.duration.total_seconds() <= 0:
        return "a silence needs a positive duration"
    if quiet.duration > MAX_SILENCE:
        return f"a silence may last at most {MAX_SILENCE.days} days"
    return None


def silence(state: AlertState, quiet: Silence, now: datetime) -> None:
    state.silenced_until = now + quiet.duration
    until = state.silenced_until.isoformat()
    _note(state, now, "silenced", by=quiet.by, detail=f"until {until}: {quiet.reason}")
    refresh(state, now)


def describe(state: AlertState) -> str:
    """The Web UI's current details: status, what, since when, who has it."""
    source = state.input
    text = f"**{state.status.value}** {source.severity.value}: {source.summary}"
    text += f"\n\nsubject {source.subject}; rule {source.rule}"
    if state.acknowledged_by:
        text += f"\n\nacknowledged by {state.acknowledged_by}"
    if state.silenced_until is not None:
        text += f"\n\nsilenced until {state.silenced_until.isoformat()}"
    if state.level:
        text += f"\n\nlevel {state.level} of {len(source.route.levels)} notified"
    if state.last_detail:
        text += f"\n\n{state.last_detail}"
    return text
