"""A replay failure in words: which event of the history the working tree's code diverged at,
what the history says happened there, and what the code did instead."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.workflow import NondeterminismError

PATCH_MARKER = "core_patch"
_CORE_MESSAGE = re.compile(r'message: "(?P<message>(?:[^"\\]|\\.)*)"')
_EVENT = re.compile(r"HistoryEvent\(id: (?P<id>\d+)")
_CODE = re.compile(r"^\[TMPRL\d+\]\s*")
_MISMATCH = re.compile(
    r"(?P<kind>Activity|Child workflow) type of scheduled event '(?P<had>[^']*)' does not"
    r" match .*? command '(?P<did>[^']*)'"
)
_REMOVED_PATCH = re.compile(r"Non-deprecated patch marker encountered for change (?P<id>\S+),")
_MACHINE = re.compile(r"(?:^|: )(?P<name>[A-Za-z ]+?) ?[Mm]achine (?:does not|cannot) handle")
# What the code did where a command machine met another event (the core's machine names).
_MACHINES = {
    "timer": "started a timer",
    "activity": "scheduled a step",
    "localactivity": "ran a local step",
    "childworkflow": "started a child process",
    "change": "asked for a patch",
    "upsertworkflowsearchattributes": "set search attributes",
    "modifyworkflowproperties": "changed the memo",
    "signalexternalwf": "signalled another process",
    "cancelexternalwf": "cancelled another process",
    "completeworkflow": "completed the process",
    "failworkflow": "failed the process",
    "cancelworkflow": "ended the process cancelled",
    "continueasnewworkflow": "continued as new",
    "update": "answered an update",
    "nexusoperation": "called a Nexus operation",
}


def patch_marker(event: HistoryEvent) -> tuple[str, bool] | None:
    """(patch id, deprecated) of a `workflow.patched` / `deprecate_patch` marker event."""
    if event.event_type != EventType.EVENT_TYPE_MARKER_RECORDED:
        return None
    attrs = event.marker_recorded_event_attributes
    if attrs.marker_name != PATCH_MARKER:
        return None
    for payloads in attrs.details.values():
        for payload in payloads.payloads:
            try:
                data = json.loads(payload.data)
                return str(data["id"]), bool(data.get("deprecated", False))
            except (ValueError, KeyError, TypeError):
                continue
    return None


def _plain(event_type: EventType.ValueType) -> str:
    return EventType.Name(event_type).removeprefix("EVENT_TYPE_").replace("_", " ").lower()


def describe_event(event: HistoryEvent) -> str:
    """What the history says happened at `event`, in words."""
    kind = event.event_type
    if kind == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
        return f"the step {event.activity_task_scheduled_event_attributes.activity_type.name}"
    if kind == EventType.EVENT_TYPE_TIMER_STARTED:
        seconds = event.timer_started_event_attributes.start_to_fire_timeout.ToTimedelta()
        return f"a timer of {seconds}"
    if kind == EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED:
        child = event.start_child_workflow_execution_initiated_event_attributes
        return f"the child process {child.workflow_type.name} ({child.workflow_id})"
    if kind == EventType.EVENT_TYPE_MARKER_RECORDED:
        marker = patch_marker(event)
        if marker:
            return f"the patch marker '{marker[0]}'" + (" (deprecated)" if marker[1] else "")
        return f"the marker {event.marker_recorded_event_attributes.marker_name}"
    if kind == EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES:
        fields = event.upsert_workflow_search_attributes_event_attributes.search_attributes
        return f"search attributes set ({', '.join(sorted(fields.indexed_fields))})"
    if kind == EventType.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED:
        signal = event.signal_external_workflow_execution_initiated_event_attributes
        return f"the signal {signal.signal_name} sent to {signal.workflow_execution.workflow_id}"
    if kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED:
        return "the process completed"
    if kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED:
        return "the process failed"
    if kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW:
        return "the process continued as new"
    return _plain(kind)


def core_message(failure: BaseException) -> str:
    """The SDK core's own sentence, without its Rust wrapping and error code."""
    text = str(failure)
    found = _CORE_MESSAGE.search(text)
    message = found.group("message") if found else text.strip().splitlines()[0]
    return _CODE.sub("", message.encode().decode("unicode_escape", errors="replace"))


def _what_the_code_did(message: str) -> str:
    if mismatch := _MISMATCH.search(message):
        what = "the step" if mismatch["kind"] == "Activity" else "the child process"
        return f"the working tree's code starts {what} {mismatch['did']} there instead"
    if removed := _REMOVED_PATCH.search(message):
        return (
            f"the working tree's code no longer asks for the patch '{removed['id']}'"
            " whose marker this history holds"
        )
    if "No command scheduled for event" in message:
        return "the working tree's code does nothing there (a command removed or moved)"
    if machine := _MACHINE.search(message):
        did = _MACHINES.get(machine["name"].replace(" ", "").lower())
        if did:
            return f"the working tree's code {did} there instead"
    return f"the working tree's code: {message}"


def diverging_event(
    failure: BaseException, events: Sequence[HistoryEvent]
) -> tuple[int | None, str]:
    """(event id, the divergence in words); id None when the failure names no event."""
    message = core_message(failure)
    if not isinstance(failure, NondeterminismError):
        if "decrypt" in message.lower() or "codec" in message.lower():
            return None, f"cannot decrypt the history: {message}"
        return None, f"the working tree's code failed while replaying: {message}"
    found = _EVENT.search(message)
    event_id = int(found["id"]) if found else None
    if event_id is None and (removed := _REMOVED_PATCH.search(message)):
        markers = ((e.event_id, patch_marker(e)) for e in events)
        event_id = next((i for i, m in markers if m and m[0] == removed["id"]), None)
    if event_id is None:
        return None, f"non-deterministic: {_what_the_code_did(message)}"
    event = next((e for e in events if e.event_id == event_id), None)
    had = describe_event(event) if event is not None else f"event {event_id}"
    return event_id, f"event {event_id} ({had}): {_what_the_code_did(message)}"
