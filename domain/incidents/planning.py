"""What a repair would do to each process found, in words, or why it would not touch it.

A plan lists only the processes its action fits (a retry needs a step to retry, a reset a
process that failed or needs attention); the others are named, with the reason, when the plan
is made, so that the operator sees the whole picture before anything happens. Pure.
"""

from __future__ import annotations

from domain.incidents.contract import Action
from domain.incidents.findings import Finding
from domain.incidents.query import QueryError, parse_duration
from domain.orders.contract import SIGNALS
from domain.orders.contract import WORKFLOW_NAME as ORDER
from domain.orders.models import OrderStatus
from domain.sync.contract import WORKFLOW_NAME as SYNC

_DURATIONS = {
    "initial_interval",
    "maximum_interval",
    "start_to_close_timeout",
    "schedule_to_close_timeout",
    "heartbeat_timeout",
}
# What each action may be told (the repair job reads these); `check_within` for any action.
PARAMS: dict[Action, set[str]] = {
    Action.RETRY: set(),
    Action.PAUSE: set(),
    Action.UNPAUSE: set(),
    Action.RETRY_OPTIONS: {*_DURATIONS, "maximum_attempts", "backoff_coefficient"},
    Action.CANCEL: set(),
    Action.RESET: set(),
    Action.SIGNAL: {"signal", "carrier"},
    Action.TERMINATE: set(),
    Action.REDRIVE: {"ids"},
}
_FINISHED_BADLY = {"Failed", "TimedOut", "Terminated", "Canceled"}
_ORDER_ENDED = {s.value for s in OrderStatus if s.is_terminal}


class PlanRefused(ValueError):
    """The plan cannot be made as asked; one line."""


def parse_action(text: str) -> Action:
    try:
        return Action(text.strip().lower())
    except ValueError:
        known = ", ".join(a.value for a in Action)
        raise PlanRefused(f"unknown action {text!r} (known: {known})") from None


def params_problem(action: Action, params: dict[str, str]) -> str | None:
    """Why the parameters do not fit the action, or None."""
    allowed = PARAMS[action] | {"check_within"}
    if unknown := sorted(set(params) - allowed):
        takes = ", ".join(sorted(allowed))
        return f"{action.value} takes no parameter {', '.join(unknown)} (it takes: {takes})"
    for name, value in params.items():
        try:
            if name in _DURATIONS or name == "check_within":
                parse_duration(value)
            elif name == "maximum_attempts" and not value.isdigit():
                return f"maximum_attempts takes a whole number (0: unlimited), not {value!r}"
            elif name == "backoff_coefficient" and not float(value) >= 1:
                return f"backoff_coefficient must be at least 1, not {value!r}"
        except QueryError as err:
            return f"{name}: {err}"
        except ValueError:
            return f"{name} takes a number, not {value!r}"
    if action is Action.RETRY_OPTIONS and not set(params) - {"check_within"}:
        return "retry-options needs what to change, e.g. --param maximum_interval=10m"
    if action is Action.SIGNAL:
        signal = params.get("signal")
        if signal not in SIGNALS:
            return f"signal needs --param signal=NAME, one of {', '.join(sorted(SIGNALS))}"
    return None


def _options(params: dict[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(params.items()) if k != "check_within")


def consequence(action: Action, finding: Finding, params: dict[str, str]) -> tuple[str, str]:
    """(what will happen, "") when the action fits the process, else ("", why not)."""
    running = finding.execution == "Running"
    step = finding.step
    is_order = finding.workflow_type == ORDER
    if action in (Action.RETRY, Action.PAUSE, Action.UNPAUSE, Action.RETRY_OPTIONS):
        if not running or step is None:
            return "", "waits on no step"
        where = f"{step.name} (attempt {step.attempt}"
        where += f", last: {step.last_failure})" if step.last_failure else ")"
        if action is Action.RETRY:
            return f"run {where} now, attempts reset", ""
        if action is Action.PAUSE:
            return ("", f"{step.name} is already paused") if step.paused else (f"pause {where}", "")
        if action is Action.UNPAUSE:
            return (f"unpause {where}", "") if step.paused else ("", f"{step.name} is not paused")
        return f"set {step.name}'s {_options(params)}", ""
    if action is Action.CANCEL:
        if not is_order:
            return "", f"cancel is for orders, not {finding.workflow_type}"
        if not running or finding.status in _ORDER_ENDED:
            return "", f"already {finding.status}"
        return "cancel the order: its done steps are undone, newest first", ""
    if action is Action.RESET:
        needs_attention = finding.status == OrderStatus.NEEDS_ATTENTION.value
        if not needs_attention and finding.execution not in _FINISHED_BADLY:
            return "", f"neither failed nor needing attention ({finding.status})"
        return "reset to before the step that failed (no done step or undo forgotten), run", ""
    if action is Action.SIGNAL:
        if not running:
            return "", f"not running ({finding.execution})"
        if not is_order:
            return "", f"signals are for orders, not {finding.workflow_type}"
        return f"send {params.get('signal')} ({_options(params)})", ""
    if action is Action.TERMINATE:
        if not running:
            return "", f"not running ({finding.execution})"
        return "terminate it with the plan's reason (no compensation runs)", ""
    if finding.workflow_type != SYNC:
        return "", f"redrive is for the sync, not {finding.workflow_type}"
    ids = params.get("ids") or "all open entries"
    return f"re-drive the sync quarantine ({ids})", ""
