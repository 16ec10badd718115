"""Payments on the sale through Tryton's manual process method, and refunds."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from connectors.tryton.records import TrytonRecords
from connectors.tryton.wire import DECLINED_TEST_CARD, SYSTEM, parse_record_id, ref_id
from domain.erp import Payment
from domain.errors import BusinessRuleError, ConflictError, InvalidRequestError, NotFoundError
from domain.orders.models import PaymentMethod


class TrytonPayments(TrytonRecords):
    """`capture_payment` and `refund_payment`."""

    async def capture_payment(
        self,
        order_id: str,
        amount: Decimal,
        currency: str,
        method: PaymentMethod,
        reference: str | None,
        *,
        idempotency_key: str,
    ) -> Payment:
        if reference == DECLINED_TEST_CARD:
            # Like the reference ERP: the demo's test card is refused before anything is recorded.
            raise BusinessRuleError(
                SYSTEM,
                "PaymentDeclined",
                f"the card {reference} was declined for order {order_id}",
            )
        env = await self._environment()
        sale = await self._sale_by_order(order_id)
        if sale is None:
            raise NotFoundError(SYSTEM, "NotFound", f"Tryton has no sale for order {order_id}")
        if currency != env.currency_code:
            raise InvalidRequestError(
                SYSTEM,
                "UnsupportedCurrency",
                f"the payment journal takes {env.currency_code}, not {currency}",
            )
        origin = f"sale.sale,{sale['id']}"
        existing = await self._payments(origin, "receivable")
        live = [p for p in existing if p["state"] != "failed"]
        if live:
            payment = live[0]
            if Decimal(payment["amount"]) != amount:
                raise ConflictError(
                    SYSTEM,
                    "IdempotencyConflict",
                    f"payment {payment['id']} for order {order_id} is {payment['amount']}, "
                    f"not {amount}",
                )
            payment_id = int(payment["id"])
        else:
            party = await self._party(str(sale["party"]["code"]))
            payment_id = await self._create(
                "account.payment",
                {
                    "company": env.company,
                    "journal": env.payment_journal,
                    "kind": "receivable",
                    "party": int(party["id"]),
                    "amount": amount,
                    "date": dt.date.today(),
                    "origin": origin,
                    "reference": (reference or order_id)[:100],
                },
            )
        await self._drive_payment(payment_id)
        payment = await self._read("account.payment", payment_id, ["state", "amount"])
        return Payment(
            payment_id=str(payment_id),
            order_id=order_id,
            amount=Decimal(payment["amount"]),
            currency=env.currency_code,
            status="captured" if payment["state"] == "succeeded" else str(payment["state"]),
        )

    async def _payments(self, origin: str, kind: str) -> list[dict[str, Any]]:
        return await self._search(
            "account.payment",
            [("origin", "=", origin), ("kind", "=", kind)],
            ["state", "amount", "reference", "party"],
            order=[("id", "ASC")],
        )

    async def _drive_payment(self, payment_id: int) -> None:
        """Moves a manual payment on to succeeded, from wherever an earlier attempt left it."""
        payment = await self._read("account.payment", payment_id, ["state", "kind"])
        if payment["state"] == "draft":
            await self._button("account.payment", payment_id, "submit")
            payment["state"] = "submitted"
        if payment["state"] == "submitted" and payment["kind"] == "payable":
            await self._button("account.payment", payment_id, "approve")
            payment["state"] = "approved"
        if payment["state"] in ("submitted", "approved"):
            await self._wizard("account.payment.process", "account.payment", [payment_id], [])
            payment = await self._read("account.payment", payment_id, ["state", "kind"])
        if payment["state"] == "processing":
            await self._button("account.payment", payment_id, "succeed")

    async def refund_payment(self, payment_id: str, *, idempotency_key: str) -> Payment:
        env = await self._environment()
        original = await self._read(
            "account.payment",
            parse_record_id(payment_id, "payment"),
            ["state", "kind", "amount", "origin", "party", "reference"],
            what="payment",
        )
        if original["kind"] != "receivable":
            raise InvalidRequestError(
                SYSTEM, "NotACapture", f"payment {payment_id} is a {original['kind']} payment"
            )
        origin = original.get("origin")
        order_id = str(original.get("reference") or "")
        if isinstance(origin, str) and origin.startswith("sale.sale,"):
            sale = await self._sale(origin.split(",", 1)[1])
            order_id = str(sale.get("reference") or order_id)
        if original["state"] in ("draft", "submitted", "approved", "processing"):
            # Nothing was collected yet: the capture simply fails.
            if original["state"] == "processing":
                await self._button("account.payment", int(original["id"]), "fail")
            elif original["state"] in ("submitted", "approved"):
                await self._button("account.payment", int(original["id"]), "draft")
                await self._delete("account.payment", int(original["id"]))
            else:
                await self._delete("account.payment", int(original["id"]))
        elif original["state"] == "succeeded":
            marker = f"refund of payment {original['id']}"
            refunds = [
                p
                for p in await self._payments(str(origin), "payable")
                if p.get("reference") == marker and p["state"] != "failed"
            ]
            if refunds:
                refund_id = int(refunds[0]["id"])
            else:
                refund_id = await self._create(
                    "account.payment",
                    {
                        "company": env.company,
                        "journal": env.payment_journal,
                        "kind": "payable",
                        "party": ref_id(original["party"]),
                        "amount": Decimal(original["amount"]),
                        "date": dt.date.today(),
                        "origin": origin,
                        "reference": marker,
                    },
                )
            await self._drive_payment(refund_id)
        return Payment(
            payment_id=payment_id,
            order_id=order_id,
            amount=Decimal(original["amount"]),
            currency=env.currency_code,
            status="refunded",
        )
