"""What a plan's `params` mean for each action, read once here: the retry options to set, the
signal to send and its fields, the quarantine entries to re-drive, how long the re-check waits.

A plan is signed, so these are part of what the operator saw before applying. Each reader raises
`ValueError` with one line naming the parameter; `params_problem` is that line or None.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import timedelta

from pydantic import BaseModel

from domain import durations
from domain.durations import DurationError
from domain.incidents.contract import Action
from domain.incidents.observed import StepOptions
from domain.orders.contract import WORKFLOW_NAME as ORDER_WORKFLOW
from domain.orders.contract import Message as OrderMessage
from domain.orders.lifecycle import DeliveryNotice

DURATIONS = (
    "initial_interval",
    "maximum_interval",
    "start_to_close_timeout",
    "schedule_to_close_timeout",
    "heartbeat_timeout",
)
RETRY_OPTIONS = (*DURATIONS, "backoff_coefficient", "maximum_attempts")
CHECK_WITHIN = "check_within"

# How long the re-check waits for an action's success check to hold, unless the plan says.
DEFAULT_CHECK_WITHIN = {
    Action.RETRY: timedelta(minutes=5),
    Action.PAUSE: timedelta(minutes=1),
    Action.UNPAUSE: timedelta(minutes=1),
    Action.RETRY_OPTIONS: timedelta(minutes=1),
    Action.CANCEL: timedelta(minutes=10),
    Action.RESET: timedelta(minutes=10),
    Action.SIGNAL: timedelta(minutes=2),
    Action.TERMINATE: timedelta(minutes=1),
    Action.REDRIVE: timedelta(minutes=10),
}


def parse_duration(text: str, name: str) -> timedelta:
    """`90s`, `5m`, `2h`, `1h30m`, `250ms`, `1d` (the one grammar of domain.durations)."""
    try:
        return durations.parse_duration(text)
    except DurationError as err:
        raise ValueError(f"{name}: {err}") from None


def check_within(action: Action, params: Mapping[str, str]) -> timedelta:
    if CHECK_WITHIN in params:
        return parse_duration(params[CHECK_WITHIN], CHECK_WITHIN)
    return DEFAULT_CHECK_WITHIN[action]


def step_options(params: Mapping[str, str]) -> StepOptions:
    """The retry options a `retry-options` plan sets; at least one, and only known ones."""
    given = {k: v for k, v in params.items() if k != CHECK_WITHIN}
    if unknown := sorted(set(given) - set(RETRY_OPTIONS)):
        raise ValueError(f"unknown retry option {unknown[0]!r}; known: {', '.join(RETRY_OPTIONS)}")
    if not given:
        raise ValueError(f"retry-options needs at least one of: {', '.join(RETRY_OPTIONS)}")
    values: dict[str, object] = {}
    for name, text in given.items():
        if name in DURATIONS:
            values[name] = parse_duration(text, name)
        elif name == "maximum_attempts":
            if not text.strip().isdigit():
                raise ValueError(f"maximum_attempts: {text!r} is not a whole number (0: no limit)")
            values[name] = int(text)
        else:
            try:
                values[name] = float(text)
            except ValueError:
                raise ValueError(f"backoff_coefficient: {text!r} is not a number") from None
            if values[name] < 1:  # type: ignore[operator]
                raise ValueError("backoff_coefficient must be at least 1")
    return StepOptions.model_validate(values)


def _delivered(workflow_id: str, params: Mapping[str, str]) -> BaseModel:
    order_id = workflow_id.removeprefix("order-")
    return DeliveryNotice(order_id=order_id, carrier=params.get("carrier") or "operator")


# The signals the console can send, per process kind: name → its argument from the plan.
SIGNALS: dict[tuple[str, str], Callable[[str, Mapping[str, str]], BaseModel]] = {
    (ORDER_WORKFLOW, OrderMessage.DELIVERED): _delivered,
}
SIGNAL_FIELDS = {"signal", "carrier", CHECK_WITHIN}


def signal_name(params: Mapping[str, str]) -> str:
    name = params.get("signal", "").strip()
    if not name:
        known = ", ".join(sorted({s for _, s in SIGNALS}))
        raise ValueError(f"signal: which signal to send is missing (known: {known})")
    if name not in {s for _, s in SIGNALS}:
        known = ", ".join(sorted({s for _, s in SIGNALS}))
        raise ValueError(f"signal: {name!r} is not one the console sends (known: {known})")
    return name


def signal_argument(workflow_type: str, workflow_id: str, params: Mapping[str, str]) -> BaseModel:
    name = signal_name(params)
    build = SIGNALS.get((workflow_type, name))
    if build is None:
        raise ValueError(f"signal: a {workflow_type} process takes no {name!r} signal")
    return build(workflow_id, params)


def redrive_ids(params: Mapping[str, str]) -> list[int] | None:
    """The quarantine entries to re-drive; None: every open one."""
    text = params.get("ids", "").strip()
    if not text:
        return None
    ids = [part.strip() for part in text.split(",")]
    if not all(part.isdigit() for part in ids):
        raise ValueError(f"ids: {text!r} is not a comma-separated list of entry numbers")
    return [int(part) for part in ids]


def params_problem(action: Action, params: Mapping[str, str]) -> str | None:
    """Why these params do not fit the action (one line), or None."""
    try:
        check_within(action, params)
        if action is Action.RETRY_OPTIONS:
            step_options(params)
        elif action is Action.SIGNAL:
            signal_name(params)
            if extra := sorted(set(params) - SIGNAL_FIELDS):
                return f"signal: unknown parameter {extra[0]!r}"
        elif action is Action.REDRIVE:
            redrive_ids(params)
            if extra := sorted(set(params) - {"ids", CHECK_WITHIN}):
                return f"redrive: unknown parameter {extra[0]!r}"
        elif extra := sorted(set(params) - {CHECK_WITHIN}):
            return f"{action.value}: takes no parameter {extra[0]!r}"
    except ValueError as err:
        return str(err)
    return None
