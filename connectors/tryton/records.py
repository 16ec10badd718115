"""Look-ups the steps share: the company's setup (company, currency, warehouse, journal), parties,
products, the sale of an order and its status."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

from connectors.tryton.transport import Environment, TrytonTransport
from connectors.tryton.wire import SYSTEM, parse_record_id, ref_id
from domain.erp import SalesOrder, SalesOrderStatus
from domain.errors import ConflictError, InvalidRequestError, NotFoundError


class TrytonRecords(TrytonTransport):
    """A Tryton session with the look-ups every part of the connector builds on."""

    async def _environment(self) -> Environment:
        if self._env is not None:
            return self._env
        companies = await self._search(
            "company.company", [], ["party", "currency", "currency.code"], limit=1
        )
        if not companies:
            raise InvalidRequestError(SYSTEM, "NotConfigured", "Tryton has no company")
        company = companies[0]
        warehouses = await self._search(
            "stock.location",
            [("type", "=", "warehouse")],
            ["input_location", "storage_location"],
            limit=1,
        )
        customers = await self._search(
            "stock.location", [("type", "=", "customer")], ["id"], limit=1
        )
        journals = await self._search(
            "account.payment.journal",
            [("name", "=", self._settings.payment_journal)],
            ["id"],
            limit=1,
            context={"company": company["id"]},
        )
        if not warehouses or not customers:
            raise InvalidRequestError(SYSTEM, "NotConfigured", "Tryton has no warehouse")
        if not journals:
            raise InvalidRequestError(
                SYSTEM,
                "NotConfigured",
                f"Tryton has no payment journal {self._settings.payment_journal!r}",
            )
        self._env = Environment(
            company=int(company["id"]),
            company_party=int(ref_id(company["party"]) or 0),
            currency=int(company["currency"]["id"]),
            currency_code=str(company["currency"]["code"]),
            warehouse=int(warehouses[0]["id"]),
            warehouse_storage=int(ref_id(warehouses[0]["storage_location"]) or 0),
            customer_location=int(customers[0]["id"]),
            return_location=int(ref_id(warehouses[0]["input_location"]) or 0),
            payment_journal=int(journals[0]["id"]),
        )
        return self._env

    # -----------------------------------------------------------------------------------------
    # Look-ups

    async def _party(self, code: str) -> dict[str, Any]:
        await self._environment()
        found = await self._search(
            "party.party",
            [("code", "=", code), ("active", "in", [True, False])],
            [
                "code",
                "name",
                "active",
                "email",
                "credit_limit_amount",
                "credit_amount",
                "addresses",
                "customer_payment_term",
                "write_date",
                "create_date",
            ],
            limit=1,
        )
        if not found:
            raise NotFoundError(SYSTEM, "UnknownCustomer", f"Tryton has no party with code {code}")
        return found[0]

    async def _products(self, skus: Iterable[str]) -> dict[str, dict[str, Any]]:
        env = await self._environment()
        wanted = sorted(set(skus))
        found = await self._search(
            "product.product",
            [("code", "in", wanted)],
            ["code", "quantity", "forecast_quantity", "default_uom", "salable"],
            context={"locations": [env.warehouse]},
        )
        return {str(p["code"]): p for p in found}

    async def _known_products(self, skus: Iterable[str]) -> dict[str, dict[str, Any]]:
        """The products of these codes, or NotFoundError naming the codes Tryton does not have.

        The message is the connector's, stating what Tryton answered: Tryton has no error for
        an unknown code. A code is only a search criterion, and a search that finds nothing is
        an empty answer. Tryton's own message about a missing product ('The value "N" for
        field "Product" in record "1" of "Sale Line" is not valid according to its domain.')
        needs a product id, which an unknown code never has, and names no code. So the order
        is refused before any sale is created: nothing is left behind in Tryton.
        """
        wanted = set(skus)
        products = await self._products(wanted)
        unknown = sorted(wanted - set(products))
        if unknown:
            raise NotFoundError(
                SYSTEM,
                "UnknownProduct",
                f"Tryton has no product with code {', '.join(unknown)} "
                "(its product search by code found none)",
            )
        return products

    _SALE_FIELDS = (
        "reference",
        "number",
        "state",
        "total_amount",
        "currency.code",
        "party.code",
        "party.name",
        "sale_date",
        "shipments",
        "shipment_returns",
        "invoices",
        "moves",
        "invoice_state",
        "shipment_state",
        "write_date",
        "create_date",
    )

    async def _sale_by_order(self, order_id: str) -> dict[str, Any] | None:
        await self._environment()
        found = await self._search(
            "sale.sale",
            [("reference", "=", order_id)],
            self._SALE_FIELDS,
            order=[("id", "DESC")],
        )
        # A cancelled attempt never hides a live one.
        live = [s for s in found if s["state"] != "cancelled"]
        candidates = live or found
        return candidates[0] if candidates else None

    async def _order_sale(self, order_id: str, sales_order_id: str) -> dict[str, Any]:
        """The sale, refused when it belongs to another order (a key reused across orders)."""
        sale = await self._sale(sales_order_id)
        if sale.get("reference") != order_id:
            raise ConflictError(
                SYSTEM,
                "IdempotencyConflict",
                f"sale {sales_order_id} belongs to order {sale.get('reference')}, not {order_id}",
            )
        return sale

    async def _sale(self, sales_order_id: str) -> dict[str, Any]:
        await self._environment()
        return await self._read(
            "sale.sale", parse_record_id(sales_order_id, "sale"), self._SALE_FIELDS, what="sale"
        )

    async def _sales_order(self, sale: dict[str, Any]) -> SalesOrder:
        return SalesOrder(
            sales_order_id=str(sale["id"]),
            order_id=str(sale.get("reference") or sale.get("number") or sale["id"]),
            status=await self._sale_status(sale),
            total=Decimal(sale.get("total_amount") or 0),
            currency=str((sale.get("currency") or {}).get("code", "")),
        )

    async def _sale_status(self, sale: dict[str, Any]) -> SalesOrderStatus:
        return (await self._sale_statuses([sale]))[0]

    async def _sale_statuses(self, sales: Sequence[dict[str, Any]]) -> list[SalesOrderStatus]:
        """Cancelled; invoiced once Tryton posted the invoice; else open. A processed sale
        whose moves were all cancelled and set aside delivers nothing: cancelled. The moves of
        all the sales are read in one search (a feed page holds hundreds)."""

        def invoiced(sale: dict[str, Any]) -> bool:
            return sale.get("invoice_state") in ("awaiting payment", "partially paid", "paid")

        def processed(sale: dict[str, Any]) -> bool:
            return (
                sale["state"] in ("processing", "done")
                and sale.get("shipment_state") != "exception"
                and not invoiced(sale)
            )

        move_ids = [int(m) for s in sales if processed(s) for m in s.get("moves") or []]
        move_states: dict[int, str] = {}
        if move_ids:
            found = await self._search("stock.move", [("id", "in", move_ids)], ["state"])
            move_states = {int(m["id"]): str(m["state"]) for m in found}
        statuses = []
        for sale in sales:
            states = [move_states.get(int(m)) for m in sale.get("moves") or []]
            if sale["state"] == "cancelled":
                statuses.append(SalesOrderStatus.CANCELLED)
            elif invoiced(sale):
                statuses.append(SalesOrderStatus.INVOICED)
            elif processed(sale) and states and all(s == "cancelled" for s in states):
                statuses.append(SalesOrderStatus.CANCELLED)
            else:
                statuses.append(SalesOrderStatus.OPEN)
        return statuses

    async def _shipments(self, sale: dict[str, Any]) -> list[dict[str, Any]]:
        ids = list(sale.get("shipments") or [])
        if not ids:
            return []
        return await self._search(
            "stock.shipment.out",
            [("id", "in", ids)],
            ["state", "number", "reference"],
            order=[("id", "ASC")],
        )

    async def _invoices(self, sale: dict[str, Any]) -> list[dict[str, Any]]:
        ids = list(sale.get("invoices") or [])
        if not ids:
            return []
        return await self._search(
            "account.invoice",
            [("id", "in", ids)],
            ["state", "number", "total_amount", "currency.code", "cancel_move"],
            order=[("id", "ASC")],
        )
