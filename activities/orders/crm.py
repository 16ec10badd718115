"""Order-to-cash steps against the CRM: the customer as a contact, the order as a deal.

Upserts are keyed by customer id and order id, so a retried step updates, never duplicates.
"""

from __future__ import annotations

from temporalio import activity

from activities.calls import call
from domain.crm import CrmContact, CrmDeal, CrmPort
from domain.orders.steps import DealOutcome, DealStageChange, DealUpdate, StepName


class CrmActivities:
    def __init__(self, crm: CrmPort) -> None:
        self.crm = crm

    @activity.defn(name=StepName.UPSERT_DEAL)
    async def upsert_deal(self, req: DealUpdate) -> DealOutcome:
        order, customer = req.order, req.order.customer
        contact = await call(
            self.crm.upsert_contact(
                CrmContact(
                    customer_id=customer.customer_id,
                    email=customer.email,
                    name=customer.name,
                    company=customer.company,
                )
            )
        )
        deal = await call(
            self.crm.upsert_deal(
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
        )
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
