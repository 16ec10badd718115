"""An approval's business events, through the real hand-over and publisher (time-skipping
server, an in-memory sink): requested, escalated when the SLA passes, decided; in that order,
ids from the approval's workflow id and sequence, and no personal data."""

from __future__ import annotations

import uuid
from datetime import timedelta

from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.events.handover import EventHandover
from activities.notifications import NotificationActivities
from continuum.events.config import EventsConfig
from domain.approvals.contract import approval_workflow_id
from domain.approvals.models import ApprovalDecision, ApprovalLevel, ApprovalStatus, Verdict
from domain.events import approvals as events
from domain.events import contract
from tests.events_sinks import MemorySink
from tests.workflows.test_approval import request, wait_state
from workers.events import build_events_worker
from workflows.approval import Approval


async def test_requested_escalated_and_decided_reach_the_subscriber_in_order(
    events_env: WorkflowEnvironment,
) -> None:
    client, run = events_env.client, uuid.uuid4().hex[:8]
    queue, events_queue = f"approvals-{run}", f"events-{run}"
    sink = MemorySink("all")
    req = request(
        levels=[
            ApprovalLevel(
                role="sales_manager", sla=timedelta(hours=8), escalation_role="sales_director"
            )
        ],
        final_deadline=timedelta(hours=80),
    )
    async with (
        build_events_worker(client, EventsConfig(), [sink], task_queue=events_queue),
        Worker(
            client,
            task_queue=queue,
            workflows=[Approval],
            activities=[
                *NotificationActivities(None).all(),  # type: ignore[list-item]
                *EventHandover(client, True, task_queue=events_queue).all(),
            ],
        ),
    ):
        workflow_id = approval_workflow_id(req.subject_id)
        handle = await client.start_workflow(Approval.run, req, id=workflow_id, task_queue=queue)
        await sink.wait_for(1)
        await events_env.sleep(timedelta(days=7))  # past the first SLA in business time
        await wait_state(handle, lambda s: s.pending_role == "sales_director")
        await handle.execute_update(
            Approval.decide, ApprovalDecision(approver="dave", verdict=Verdict.APPROVED)
        )
        outcome = await handle.result()
        await sink.wait_for(3)
    assert outcome.status is ApprovalStatus.APPROVED
    assert [e.type for e in sink.delivered] == [events.REQUESTED, events.ESCALATED, events.DECIDED]
    assert [e.id for e in sink.delivered] == [contract.event_id(workflow_id, n) for n in (1, 2, 3)]
    assert {e.subject for e in sink.delivered} == {req.subject_id}
    assert {e.source for e in sink.delivered} == {events.SOURCE}
    requested, escalated, decided = (e.data for e in sink.delivered)
    assert requested["amount"] == "25000" and requested["levels"] == ["sales_manager"]
    assert (escalated["from_role"], escalated["to_role"]) == ("sales_manager", "sales_director")
    assert decided["verdict"] == "approved" and decided["decided_by"] == "dave"
    for event in sink.delivered:  # validates against its type's model
        events.TYPES[event.type].model_validate(event.data)
