"""The Approval process on the time-skipping server: SLAs in business time, reminders,
escalation, the final deadline, and every refusal with its reason."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowFailureError, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.worker import Worker

from activities.events.handover import EventHandover
from activities.notifications import NotificationActivities
from continuum import search_attributes as sa
from continuum.approvals.client import ApprovalClient, ApprovalError
from continuum.supervisor import free_port
from domain.approvals.contract import approval_workflow_id
from domain.approvals.models import (
    ApprovalClaim,
    ApprovalDecision,
    ApprovalDelegation,
    ApprovalLevel,
    ApprovalOutcome,
    ApprovalRequest,
    ApprovalState,
    ApprovalStatus,
    AuditAction,
    Person,
    Verdict,
)
from domain.business_calendar import BusinessCalendar
from tests.workflows.conftest import Harness
from workflows.approval import Approval

BERLIN = ZoneInfo("Europe/Berlin")
PEOPLE = {
    "rita": Person(name="Rita Requester", roles=["sales_manager"]),
    "alice": Person(name="Alice", roles=["sales_manager"]),
    "bob": Person(name="Bob", roles=["finance"]),
    "dave": Person(name="Dave", roles=["sales_director", "sales_manager", "finance"]),
    "erin": Person(name="Erin", roles=["finance"]),
}
Handle = WorkflowHandle[Approval, ApprovalOutcome]


def request(**changes: object) -> ApprovalRequest:
    subject = f"order-A-{uuid.uuid4().hex[:8]}"
    base = ApprovalRequest(
        subject_id=subject,
        kind="order",
        requester="rita",
        amount=Decimal("25000"),
        currency="EUR",
        summary=f"{subject} for ACME",
        order_id=subject.removeprefix("order-"),
        levels=[
            ApprovalLevel(role="sales_manager", sla=timedelta(hours=16), escalation_role=None),
            ApprovalLevel(role="finance", sla=timedelta(hours=16)),
        ],
        final_deadline=timedelta(hours=80),
        people=PEOPLE,
    )
    return base.model_copy(update=changes)


async def start(h: Harness, req: ApprovalRequest) -> Handle:
    return await h.env.client.start_workflow(
        Approval.run, req, id=approval_workflow_id(req.subject_id), task_queue=h.task_queue
    )


async def wait_state(
    handle: Handle, wanted: Callable[[ApprovalState], bool], within: float = 15.0
) -> ApprovalState:
    deadline = time.monotonic() + within
    while True:
        state = await handle.query(Approval.state)
        if wanted(state):
            return state
        if time.monotonic() > deadline:
            raise AssertionError(f"approval never reached the wanted state: {state}")
        await asyncio.sleep(0.05)


async def refused(handle: Handle, update: object, arg: object) -> str:
    with pytest.raises(WorkflowUpdateFailedError) as failure:
        await handle.execute_update(update, arg)  # type: ignore[call-overload]
    cause = failure.value.cause
    assert isinstance(cause, ApplicationError)
    return cause.message


def local(day: date, hour: int) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=BERLIN)


async def test_three_day_sla_over_a_weekend_reminds_escalates_and_expires(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    # Move the server's clock to the next Friday, 10:00 in Berlin; the Monday after is a holiday.
    now = (await harness.env.get_current_time()).astimezone(BERLIN)
    friday = now.date() + timedelta(days=(4 - now.weekday()) % 7 or 7)
    await harness.env.sleep(local(friday, 10) - now)
    monday = friday + timedelta(days=3)
    calendar = BusinessCalendar(time_zone="Europe/Berlin", holidays=[monday])
    three_days = timedelta(hours=24)  # three 8-hour business days
    req = request(
        amount=Decimal("900"),
        levels=[
            ApprovalLevel(
                role="sales_manager",
                sla=three_days,
                reminder_lead=timedelta(hours=4),
                escalation_role="sales_director",
            )
        ],
        final_deadline=timedelta(hours=40),
        deadline_outcome=Verdict.APPROVED,  # low risk: the deadline approves
        calendar=calendar,
    )
    caplog.set_level(logging.INFO, logger="continuum.notifications")
    began = time.monotonic()
    async with harness.worker():
        handle = await start(harness, req)
        first = await handle.query(Approval.state)
        # The server's clock ran on a little since the sleep: count from the request's instant.
        t0 = first.audit[0].at.astimezone(BERLIN)
        assert t0.date() == friday and t0.hour == 10
        first_sla = first.sla_deadline
        t0 = t0.replace(second=0, microsecond=0)

        def at(days: int, hours: int = 0) -> datetime:
            return t0 + timedelta(days=days, hours=hours)  # wall-clock arithmetic in Berlin

        # Fri 10-17, (weekend, holiday Monday), Tue, Wed, Thu 9-10: 7 + 8 + 8 + 1 hours.
        assert first_sla == first.audit[0].at + (at(6) - t0)
        assert first.pending_role == "sales_manager" and first.status is ApprovalStatus.PENDING
        attrs = (await handle.describe()).typed_search_attributes
        assert attrs.get(sa.APPROVAL_ROLE) == "sales_manager"
        assert attrs.get(sa.APPROVAL_STATUS) == "Pending"
        assert attrs.get(sa.APPROVAL_DEADLINE) == first_sla
        assert attrs.get(sa.ORDER_ID) == req.order_id

        outcome = await handle.result()  # the server skips the two weeks
        attrs = (await handle.describe()).typed_search_attributes
    assert time.monotonic() - began < 120  # seconds of wall time for two weeks of business time

    assert outcome.status is ApprovalStatus.EXPIRED and outcome.timed_out
    assert outcome.verdict is Verdict.APPROVED and outcome.decided_by is None
    # A timer's workflow task starts a few milliseconds after the timer fired: minute precision.
    trail = [(e.action, e.at.replace(second=0, microsecond=0), e.role) for e in outcome.audit]
    assert trail == [
        (AuditAction.REQUESTED, at(0), ""),
        # Wednesday 14:00: 20 business hours in (Fri 7, Tue 8, Wed 5), four before the SLA ends.
        (AuditAction.REMINDED, at(5, 4), "sales_manager"),
        # A new SLA for the sales director: Thursday 10:00 + 24 business hours.
        (AuditAction.ESCALATED, at(6), "sales_director"),
        # 40 business hours: Fri 7, Tue 8, Wed 8, Thu 8, Fri 8, Mon 9-10.
        (AuditAction.EXPIRED, at(10), "sales_director"),
    ]
    assert attrs.get(sa.APPROVAL_STATUS) == "Expired" and attrs.get(sa.APPROVAL_ROLE) == ""
    notices = [r.getMessage() for r in caplog.records if r.name == "continuum.notifications"]
    kinds = [n for kind in ("reminder", "escalation", "expired") for n in notices if kind in n]
    assert len(kinds) >= 3, notices
    assert any('"recipients": ["alice", "dave", "rita"]' in n for n in notices if "reminder" in n)
    assert any('"recipients": ["dave"]' in n for n in notices if "escalation" in n)


async def test_refusals_claim_delegate_signal_and_the_audit_trail(harness: Harness) -> None:
    req = request()
    async with harness.worker():
        handle = await start(harness, req)

        def decision(who: str, **more: object) -> ApprovalDecision:
            return ApprovalDecision(approver=who, verdict=Verdict.APPROVED, **more)

        assert "unknown approver 'zed'" in await refused(handle, Approval.decide, decision("zed"))
        assert "rita requested" in await refused(handle, Approval.decide, decision("rita"))
        assert "their own request" in await refused(handle, Approval.decide, decision("rita"))
        unauthorised = await refused(handle, Approval.decide, decision("bob"))
        assert "bob is not authorised" in unauthorised and "needs sales_manager" in unauthorised
        wrong = await refused(handle, Approval.decide, decision("alice", level=1))
        assert wrong.startswith("wrong level: level 2 is not pending; level 1 (sales_manager)")

        claimed = await handle.execute_update(Approval.claim, ApprovalClaim(approver="alice"))
        assert claimed.assignee == "alice"
        attrs = (await handle.describe()).typed_search_attributes
        assert attrs.get(sa.APPROVAL_ASSIGNEE) == "alice"
        taken = await refused(handle, Approval.decide, decision("dave"))
        assert "is claimed by alice, not dave" in taken

        to_dave = ApprovalDelegation(approver="alice", to="dave", comment="on holiday")
        delegated = await handle.execute_update(Approval.delegate, to_dave)
        assert delegated.assignee == "dave"
        first = await handle.execute_update(Approval.decide, decision("dave", comment="fine"))
        assert first.current_level == 1 and first.pending_role == "finance"
        assert first.assignee is None

        # dave holds finance too, but approved level 1 already.
        four_eyes = await refused(handle, Approval.decide, decision("dave"))
        assert four_eyes.startswith("four-eyes: dave already approved level 1 (sales_manager)")

        # A signal cannot be answered: a bad one is kept as refused and changes nothing else.
        await handle.signal(Approval.decide_signal, decision("alice"))
        state = await wait_state(handle, lambda s: s.audit[-1].action is AuditAction.REFUSED)
        assert "alice is not authorised" in state.audit[-1].comment
        assert state.status is ApprovalStatus.PENDING and state.current_level == 1

        await handle.signal(Approval.decide_signal, decision("bob", comment="paid up"))
        outcome = await handle.result()

        approvals = ApprovalClient(harness.env.client)
        with pytest.raises(ApprovalError) as late:
            await approvals.decide(req.subject_id, decision("erin"))
        assert str(late.value) == f"already decided: {req.subject_id} is approved by bob"
        with pytest.raises(ApprovalError) as unknown:
            await approvals.decide("order-NOPE", decision("erin"))
        assert str(unknown.value) == "unknown approval order-NOPE"
        final = await approvals.state(req.subject_id)
        attrs = (await handle.describe()).typed_search_attributes

    assert outcome.status is ApprovalStatus.APPROVED and outcome.verdict is Verdict.APPROVED
    assert outcome.decided_by == "bob" and outcome.comment == "paid up" and not outcome.timed_out
    trail = [(e.action.value, e.actor, e.role, e.level) for e in outcome.audit]
    assert trail == [
        ("requested", "rita", "", None),
        ("claimed", "alice", "sales_manager", 0),
        ("delegated", "alice", "sales_manager", 0),
        ("approved", "dave", "sales_manager", 0),
        ("refused", "alice", "", 1),
        ("approved", "bob", "finance", 1),
    ]
    assert outcome.audit[2].comment == "to dave: on holiday"
    # The query replays the closed workflow; instants may differ by the server's milliseconds.
    assert [e.model_copy(update={"at": None}) for e in final.audit] == [
        e.model_copy(update={"at": None}) for e in outcome.audit
    ]
    assert final.status is ApprovalStatus.APPROVED
    assert attrs.get(sa.APPROVAL_STATUS) == "Approved" and attrs.get(sa.APPROVAL_ROLE) == ""


async def test_a_rejection_ends_the_chain_and_claims_and_delegations_are_checked(
    harness: Harness,
) -> None:
    req = request()
    async with harness.worker():
        handle = await start(harness, req)
        not_mine = await refused(handle, Approval.claim, ApprovalClaim(approver="bob"))
        assert "bob is not authorised to claim level 1" in not_mine
        to_requester = ApprovalDelegation(approver="alice", to="rita")
        bad = await refused(handle, Approval.delegate, to_requester)
        assert bad == "cannot delegate to rita: rita requested " + (
            f"{req.subject_id} and may not receive their own request"
        )
        self_ = await refused(
            handle, Approval.delegate, ApprovalDelegation(approver="alice", to="alice")
        )
        assert self_ == "alice cannot delegate to themselves"

        no = ApprovalDecision(approver="alice", verdict=Verdict.REJECTED, comment="too risky")
        state = await handle.execute_update(Approval.decide, no)
        assert state.status is ApprovalStatus.REJECTED and state.pending_role is None
        outcome = await handle.result()
    assert outcome.verdict is Verdict.REJECTED and outcome.decided_by == "alice"
    assert outcome.comment == "too risky"
    assert [e.action for e in outcome.audit][-1] is AuditAction.REJECTED


async def test_a_request_without_levels_fails_with_a_reason(harness: Harness) -> None:
    async with harness.worker():
        handle = await start(harness, request(levels=[]))
        with pytest.raises(Exception) as failure:
            await handle.result()
    assert "has no levels to decide" in str(failure.value.cause)  # type: ignore[attr-defined]


async def test_an_undeliverable_notice_does_not_decide_the_approval(harness: Harness) -> None:
    # The notification webhook is down for good: reminders fail, the deadline still decides.
    closed = f"http://127.0.0.1:{free_port()}/notices"
    req = request(
        amount=Decimal("900"),
        levels=[
            ApprovalLevel(
                role="sales_manager", sla=timedelta(hours=8), reminder_lead=timedelta(hours=2)
            )
        ],
        final_deadline=timedelta(hours=16),
        deadline_outcome=Verdict.APPROVED,
    )
    notices = NotificationActivities(closed, http_timeout=1.0)
    async with Worker(
        harness.env.client,
        task_queue=harness.task_queue,
        workflows=[Approval],
        # The approval hands its business events over (a no-op: events are off).
        activities=[*notices.all(), *EventHandover(harness.env.client, False).all()],  # type: ignore[list-item]
    ):
        handle = await start(harness, req)
        outcome = await handle.result()
        history = await handle.fetch_history()
    assert outcome.status is ApprovalStatus.EXPIRED and outcome.verdict is Verdict.APPROVED
    assert [e.action for e in outcome.audit][-1] is AuditAction.EXPIRED
    # The notices were really attempted, and none of them completed: nobody was reached.
    attempted = {
        e.event_id
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        and e.activity_task_scheduled_event_attributes.activity_type.name == "notify_approvers"
    }
    completed = {
        e.activity_task_completed_event_attributes.scheduled_event_id
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED
    }
    assert len(attempted) >= 2  # the reminder and the expiry notice, at least
    assert not attempted & completed


def _no_working_day(today: date) -> BusinessCalendar:
    """Sundays only, and every Sunday for two years a holiday."""
    first = today - timedelta(days=today.isoweekday() % 7 + 7)
    return BusinessCalendar(weekdays=[7], holidays=[first + timedelta(weeks=n) for n in range(110)])


@pytest.mark.parametrize(
    ("changes", "why"),
    [
        ({"final_deadline": timedelta(hours=-4)}, "final deadline must be positive"),
        ({"calendar": _no_working_day}, "no working day within a year"),
    ],
)
async def test_a_request_the_calendar_cannot_schedule_fails_instead_of_retrying(
    harness: Harness, changes: dict[str, object], why: str
) -> None:
    # Raised in @workflow.init, this used to fail the workflow task again and again, forever.
    if callable(calendar := changes.get("calendar")):  # from the test server's own clock
        changes = {"calendar": calendar((await harness.env.get_current_time()).date())}
    async with harness.worker():
        handle = await start(harness, request(**changes))
        with pytest.raises(WorkflowFailureError) as failure:
            await asyncio.wait_for(handle.result(), timeout=30)
    cause = failure.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == "InvalidApprovalRequest"
    assert why in cause.message
