"""The CRM step of an order: opening the deal writes the contact, the deal and their link, the
contact and deal at the same time; the won stage later moves the deal alone (one call); a failed
write fails the step (retryable or not, as classified) without linking anything."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from temporalio.exceptions import ApplicationError

from activities.orders.crm import CrmActivities, both
from domain.crm import DealStage
from domain.errors import InvalidRequestError, TransientError
from domain.orders.steps import DealUpdate
from tests.fakes import InMemoryCrm
from tests.samples import order


async def test_opening_writes_contact_and_deal_at_once_then_links_them() -> None:
    crm = InMemoryCrm()
    contact_held, deal_held = crm.hold("upsert_contact"), crm.hold("upsert_deal")
    step = asyncio.create_task(
        CrmActivities(crm).upsert_deal(DealUpdate(order=order(), stage=DealStage.CONTRACT_SENT))
    )
    # Both writes are in flight before either has answered.
    await asyncio.wait_for(crm.entered["upsert_contact"].wait(), 5)
    await asyncio.wait_for(crm.entered["upsert_deal"].wait(), 5)
    assert crm.calls["associate_deal_contact"] == 0
    contact_held.set()
    deal_held.set()
    outcome = await asyncio.wait_for(step, 5)
    assert crm.calls == {"upsert_contact": 1, "upsert_deal": 1, "associate_deal_contact": 1}
    assert outcome.deal_id and outcome.contact_id and outcome.stage is DealStage.CONTRACT_SENT


async def test_the_won_stage_moves_the_opened_deal_with_one_call() -> None:
    crm, placed = InMemoryCrm(), order()
    steps = CrmActivities(crm)
    opened = await steps.upsert_deal(DealUpdate(order=placed, stage=DealStage.CONTRACT_SENT))
    won = await steps.upsert_deal(
        DealUpdate(order=placed, stage=DealStage.CLOSED_WON, close_date=datetime.now(UTC))
    )
    assert crm.calls == {"upsert_contact": 1, "upsert_deal": 2, "associate_deal_contact": 1}
    assert won.deal_id == opened.deal_id
    assert crm.deals[placed.order_id].properties["dealstage"] == DealStage.CLOSED_WON.value


@pytest.mark.parametrize("failing", ["upsert_contact", "upsert_deal"])
async def test_a_refused_write_fails_the_step_for_good_and_links_nothing(failing: str) -> None:
    crm = InMemoryCrm()
    crm.fail[failing] = InvalidRequestError("crm", "VALIDATION_ERROR", "refused")
    with pytest.raises(ApplicationError) as raised:
        await CrmActivities(crm).upsert_deal(
            DealUpdate(order=order(), stage=DealStage.CONTRACT_SENT)
        )
    assert raised.value.non_retryable and raised.value.type == "VALIDATION_ERROR"
    assert crm.calls["associate_deal_contact"] == 0


async def test_when_one_of_both_fails_the_other_is_cancelled_and_the_error_goes_on() -> None:
    other_cancelled = asyncio.Event()

    async def slow() -> str:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            other_cancelled.set()
            raise
        return "never"

    async def failing() -> str:
        raise TransientError("crm", "ServerError", "down", status=503)

    with pytest.raises(TransientError):
        await asyncio.wait_for(both(slow(), failing()), 5)
    assert other_cancelled.is_set()
