"""Order-to-cash steps against the CRM: the customer as a contact, the order as a deal.

Upserts are keyed by customer id and order id, so a retried step updates, never duplicates.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

from temporalio import activity

from activities.calls import call
from domain.crm import CrmContact, CrmDeal, CrmPort, DealStage
from domain.orders.steps import DealOutcome, DealStageChange, DealUpdate, StepName

A = TypeVar("A")
B = TypeVar("B")

# The stage the order opens its deal at; the deal's contact is written with it.
OPENING = DealStage.CONTRACT_SENT


async def both(first: Awaitable[A], second: Awaitable[B]) -> tuple[A, B]:
    """Two independent calls at once; when one fails the other is cancelled before the error
    goes on (both are keyed upserts, so a retry of the step repeats them harmlessly)."""
    one, two = asyncio.ensure_future(first), asyncio.ensure_future(second)
    try:
        return await asyncio.gather(one, two)
    except BaseException:
        for task in (one, two):
            task.cancel()
        await asyncio.gather(one, two, return_exceptions=True)
        raise


class CrmActivities:
    def __init__(self, crm: CrmPort) -> None:
        self.crm = crm

    @activity.defn(name=StepName.UPSERT_DEAL)
    async def upsert_deal(self, req: DealUpdate) -> DealOutcome:
        """At the opening stage: the contact and the deal (at once, neither needs the other),
        then their association. At a later stage (won) only the deal: the process opened it
        with its contact and association before, from the same order, and those writes are
        keyed upserts that would change nothing (one HTTP call instead of three)."""
        order, customer = req.order, req.order.customer
        deal_write = self.crm.upsert_deal(
            CrmDeal(
                order_id=order.order_id,
                customer_id=customer.customer_id,
                # The same name as the sync's mapping writes (domain.sync.mapping).
                name=f"Order {order.order_id} — {customer.name}",
                amount=order.total,
                currency=order.currency,
                stage=req.stage,
                close_date=req.close_date.date() if req.close_date else None,
            )
        )
        if req.stage is not OPENING:
            deal = await call(deal_write)
            return DealOutcome(order_id=order.order_id, deal_id=deal.id, stage=req.stage)
        contact_write = self.crm.upsert_contact(
            CrmContact(
                customer_id=customer.customer_id,
                email=customer.email,
                name=customer.name,
                company=customer.company,
            )
        )
        contact, deal = await call(both(contact_write, deal_write))
        await call(self.crm.associate_deal_contact(deal.id, contact.id))
        return DealOutcome(
            order_id=order.order_id, deal_id=deal.id, contact_id=contact.id, stage=req.stage
        )

    @activity.defn(name=StepName.SET_DEAL_STAGE)
    async def set_deal_stage(self, req: DealStageChange) -> DealOutcome:
        deal = await call(self.crm.set_deal_stage(req.order_id, req.stage))
        return DealOutcome(
            order_id=req.order_id, deal_id=deal.id if deal else None, stage=req.stage
        )

    def all(self) -> list[object]:
        return [self.upsert_deal, self.set_deal_stage]
