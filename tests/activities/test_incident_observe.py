"""How a later try of a repair action recognises its own earlier try's work in the history
(a worker that died after acting, before answering): by the identity it signalled or
terminated with, or the cancel update's id; anyone else's signal is not ours."""

from __future__ import annotations

from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import (
    HistoryEvent,
    WorkflowExecutionSignaledEventAttributes,
    WorkflowExecutionTerminatedEventAttributes,
    WorkflowExecutionUpdateAcceptedEventAttributes,
)
from temporalio.api.update.v1 import Meta, Request

from activities.incidents.observe import acted_by

OURS = "ops@example.com (continuum incidents, plan P-1)"


def _signaled(identity: str) -> HistoryEvent:
    return HistoryEvent(
        event_type=EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED,
        workflow_execution_signaled_event_attributes=WorkflowExecutionSignaledEventAttributes(
            signal_name="delivered", identity=identity
        ),
    )


def test_our_signal_is_found_and_someone_elses_is_not() -> None:
    assert acted_by([_signaled("carrier")], OURS, "u-1") is None
    assert acted_by([_signaled("carrier"), _signaled(OURS)], OURS, "u-1") == "signal delivered sent"


def test_our_termination_and_our_cancel_update_are_found() -> None:
    terminated = HistoryEvent(
        event_type=EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED,
        workflow_execution_terminated_event_attributes=WorkflowExecutionTerminatedEventAttributes(
            identity=OURS
        ),
    )
    assert acted_by([terminated], OURS, "u-1") == "terminated"
    accepted = HistoryEvent(
        event_type=EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED,
        workflow_execution_update_accepted_event_attributes=(
            WorkflowExecutionUpdateAcceptedEventAttributes(
                accepted_request=Request(meta=Meta(update_id="u-1"))
            )
        ),
    )
    assert acted_by([accepted], OURS, "u-2") is None
    assert acted_by([accepted], OURS, "u-1") == "cancel requested: compensation runs"
