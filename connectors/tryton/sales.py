"""Sales orders: created, confirmed (credit warnings acknowledged) and cancelled."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from connectors.tryton.errors import TrytonWarning
from connectors.tryton.records import TrytonRecords
from connectors.tryton.transport import Environment
from connectors.tryton.wire import OPEN_SHIPMENT_STATES, SYSTEM, log, ref_id
from domain.erp import SalesOrder
from domain.errors import BusinessRuleError, ConflictError, IntegrationError, InvalidRequestError
from domain.orders.models import Address, Order, PaymentMethod


class TrytonSales(TrytonRecords):
    """`create_sales_order` and `cancel_sales_order`."""

    async def create_sales_order(self, order: Order, *, idempotency_key: str) -> SalesOrder:
        env = await self._environment()
        sale = await self._sale_by_order(order.order_id)
        if sale is not None and sale["state"] in ("confirmed", "processing", "done", "cancelled"):
            if sale["state"] != "cancelled" and Decimal(sale["total_amount"]) != order.total:
                raise ConflictError(
                    SYSTEM,
                    "IdempotencyConflict",
                    f"sale {sale['id']} for order {order.order_id} totals "
                    f"{sale['total_amount']}, not {order.total}",
                )
            return await self._sales_order(sale)
        if sale is None:
            sale_id = await self._new_sale(order, env)
        else:
            sale_id = int(sale["id"])  # a draft or quotation left by an interrupted attempt
        try:
            current = await self._read("sale.sale", sale_id, ["state"])
            if current["state"] == "draft":
                await self._button("sale.sale", sale_id, "quote")
            await self._confirm(sale_id)
        except BusinessRuleError:
            await self._discard_sale(sale_id)
            raise
        return await self._sales_order(await self._sale(str(sale_id)))

    async def _new_sale(self, order: Order, env: Environment) -> int:
        products = await self._known_products(line.sku for line in order.lines)
        party = await self._party(order.customer.customer_id)
        if not party.get("active", True):
            raise BusinessRuleError(
                SYSTEM,
                "CustomerBlocked",
                f"customer {order.customer.customer_id} is archived in Tryton",
            )
        if order.currency != env.currency_code:
            currencies = await self._search(
                "currency.currency", [("code", "=", order.currency)], ["id"], limit=1
            )
            if not currencies:
                raise InvalidRequestError(
                    SYSTEM, "UnknownCurrency", f"Tryton has no currency {order.currency}"
                )
            currency = int(currencies[0]["id"])
        else:
            currency = env.currency
        addresses = list(party.get("addresses") or [])
        if not addresses:
            raise BusinessRuleError(
                SYSTEM, "NoAddress", f"customer {order.customer.customer_id} has no address"
            )
        shipment_address = await self._delivery_address(int(party["id"]), order.shipping_address)
        values: dict[str, Any] = {
            "company": env.company,
            "party": int(party["id"]),
            "currency": currency,
            "warehouse": env.warehouse,
            "reference": order.order_id,
            "description": f"Continuum order {order.order_id}",
            "comment": self._payment_note(order.payment_method, order.payment_reference),
            "invoice_address": int(addresses[0]),
            "shipment_address": shipment_address,
            "shipment_method": "order",
            "invoice_method": "fulfillment",
            "lines": [
                [
                    "create",
                    [
                        {
                            "type": "line",
                            "product": int(products[line.sku]["id"]),
                            "quantity": float(line.quantity),
                            "unit": ref_id(products[line.sku]["default_uom"]),
                            "unit_price": line.unit_price,
                        }
                        for line in order.lines
                    ],
                ]
            ],
        }
        if party.get("customer_payment_term") is not None:
            values["payment_term"] = ref_id(party["customer_payment_term"])
        return await self._create("sale.sale", values)

    async def _confirm(self, sale_id: int) -> None:
        """Confirms over JSON-RPC, the only API that names a warning so it can be acknowledged."""
        context = self._context()
        try:
            await self._rpc("model.sale.sale.confirm", [sale_id], context)
        except TrytonWarning as warning:
            if not (
                self._settings.accept_credit_warnings
                and warning.name.endswith(".credit_limit_amount")
            ):
                raise
            log.info("acknowledging Tryton's credit-limit warning for sale %s", sale_id)
            await self._rpc("model.res.user.warning.skip", warning.name, False, context)
            await self._rpc("model.sale.sale.confirm", [sale_id], context)

    @staticmethod
    def _payment_note(method: PaymentMethod, reference: str | None) -> str:
        note = f"Payment method: {method.value}"
        return f"{note} ({reference})" if reference else note

    async def _delivery_address(self, party_id: int, address: Address) -> int:
        countries = await self._search(
            "country.country", [("code", "=", address.country.upper())], ["id"], limit=1
        )
        country = int(countries[0]["id"]) if countries else None
        found = await self._search(
            "party.address",
            [
                ("party", "=", party_id),
                ("street", "=", address.street),
                ("postal_code", "=", address.postal_code),
                ("city", "=", address.city),
                ("country", "=", country),
            ],
            ["id"],
            limit=1,
        )
        if found:
            return int(found[0]["id"])
        return await self._create(
            "party.address",
            {
                "party": party_id,
                "party_name": address.name,
                "street": address.street,
                "postal_code": address.postal_code,
                "city": address.city,
                "country": country,
            },
        )

    async def _discard_sale(self, sale_id: int) -> None:
        """Leaves no sale behind after Tryton refused it: back to draft, then deleted."""
        try:
            current = await self._read("sale.sale", sale_id, ["state"])
            if current["state"] == "quotation":
                await self._button("sale.sale", sale_id, "draft")
            await self._delete("sale.sale", sale_id)
        except IntegrationError as err:
            log.warning("could not discard refused Tryton sale %s: %s", sale_id, err)

    async def cancel_sales_order(self, sales_order_id: str, *, idempotency_key: str) -> SalesOrder:
        sale = await self._sale(sales_order_id)
        sale_id = int(sale["id"])
        state = sale["state"]
        if state in ("draft", "quotation"):
            await self._button("sale.sale", sale_id, "cancel")
        elif state == "confirmed":
            await self._button("sale.sale", sale_id, "draft")
            await self._button("sale.sale", sale_id, "cancel")
        elif state in ("processing", "done"):
            await self._cancel_processing_sale(sale)  # carries on from wherever it stopped
        return await self._sales_order(await self._sale(sales_order_id))

    async def _cancel_processing_sale(self, sale: dict[str, Any]) -> None:
        sale_id = int(sale["id"])
        shipments = await self._shipments(sale)
        if any(s["state"] == "done" for s in shipments):
            raise BusinessRuleError(
                SYSTEM,
                "SaleDelivered",
                f"sale {sale_id} was delivered and cannot be cancelled in Tryton; "
                "credit its invoice and take the goods back with a return shipment",
            )
        invoices = await self._invoices(sale)
        if any(i["state"] in ("posted", "paid") for i in invoices):
            raise BusinessRuleError(
                SYSTEM, "SaleInvoiced", f"sale {sale_id} is invoiced; credit the invoice first"
            )
        for shipment in shipments:
            if shipment["state"] in OPEN_SHIPMENT_STATES:
                await self._button("stock.shipment.out", int(shipment["id"]), "cancel")
        for invoice in invoices:
            if invoice["state"] in ("draft", "validated"):
                await self._button("account.invoice", int(invoice["id"]), "cancel")
        sale = await self._sale(str(sale_id))
        if sale.get("shipment_state") == "exception":
            lines = await self._search(
                "sale.line", [("sale", "=", sale_id)], ["moves", "moves_ignored"]
            )
            moves = [m for line in lines for m in line.get("moves") or []]
            ignored = {m for line in lines for m in line.get("moves_ignored") or []}
            moves_states = await self._search("stock.move", [("id", "in", moves)], ["state"])
            to_ignore = [
                int(m["id"])
                for m in moves_states
                if m["state"] == "cancelled" and m["id"] not in ignored
            ]
            if to_ignore:
                await self._wizard(
                    "sale.handle.shipment.exception",
                    "sale.sale",
                    [sale_id],
                    [
                        (
                            "handle",
                            {
                                "ask": {
                                    "recreate_moves": [],
                                    "ignore_moves": to_ignore,
                                    "domain_moves": to_ignore,
                                }
                            },
                        )
                    ],
                )
