"""In-memory ERP and CRM behind the real ports, for workflow tests on the time-skipping server.

They keep the idempotency contract (same key, same answer) and let a test make any one call
fail for good, or hold a call until the test releases it. The real services are exercised by
tests/services, tests/connectors and tests/integration. The ERP's purchasing side is in
tests/fake_purchasing.py.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from domain.credit import CreditStatus
from domain.crm import CrmContact, CrmDeal, CrmRecord, CrmUpsert, DealStage
from domain.erp import (
    CustomerChangePage,
    ErpPort,
    Invoice,
    OrderChangePage,
    Payment,
    PurchasingPort,
    Reservation,
    SalesOrder,
    SalesOrderStatus,
    Shipment,
    ShipmentStatus,
    StockLine,
    StockStatus,
)
from domain.errors import BusinessRuleError
from domain.orders.models import Address, Order, OrderLine, PaymentMethod
from tests.fake_purchasing import PurchasingLedger
from tests.scripted import Scripted


class InMemoryErp(PurchasingLedger):
    """Order-to-cash's side here; purchasing's in tests.fake_purchasing."""

    def __init__(self, stock: int = 100, credit_limit: Decimal = Decimal("100000")) -> None:
        super().__init__()
        self.stock = stock
        self.credit_limit = credit_limit
        self.blocked = False
        self.keys: dict[str, Any] = {}
        self.records: dict[str, dict[str, Any]] = {
            kind: {} for kind in ("reservation", "sales_order", "payment", "shipment", "invoice")
        }

    def _once(self, key: str, make: Any) -> Any:
        if key not in self.keys:
            self.keys[key] = make()
        return self.keys[key]

    def _put(self, kind: str, record: Any, id_field: str) -> Any:
        self.records[kind][getattr(record, id_field)] = record
        return record

    async def get_credit(self, customer_id: str) -> CreditStatus:
        await self.enter("get_credit")
        return CreditStatus(
            customer_id=customer_id,
            credit_limit=self.credit_limit,
            exposure=Decimal(0),
            blocked=self.blocked,
        )

    async def check_stock(self, lines: list[OrderLine]) -> StockStatus:
        await self.enter("check_stock")
        return StockStatus(
            lines=[StockLine(sku=x.sku, requested=x.quantity, available=self.stock) for x in lines]
        )

    async def reserve_stock(
        self, order_id: str, lines: list[OrderLine], *, idempotency_key: str
    ) -> Reservation:
        await self.enter("reserve_stock")
        return self._once(  # type: ignore[no-any-return]
            idempotency_key,
            lambda: self._put(
                "reservation",
                Reservation(reservation_id=f"R-{order_id}", order_id=order_id, status="active"),
                "reservation_id",
            ),
        )

    async def release_stock(self, reservation_id: str, *, idempotency_key: str) -> Reservation:
        await self.enter("release_stock")
        record: Reservation = self.records["reservation"][reservation_id]
        record.status = "released"
        return record

    async def create_sales_order(self, order: Order, *, idempotency_key: str) -> SalesOrder:
        await self.enter("create_sales_order")
        return self._once(  # type: ignore[no-any-return]
            idempotency_key,
            lambda: self._put(
                "sales_order",
                SalesOrder(
                    sales_order_id=f"SO-{order.order_id}",
                    order_id=order.order_id,
                    status=SalesOrderStatus.OPEN,
                    total=order.total,
                    currency=order.currency,
                ),
                "sales_order_id",
            ),
        )

    async def cancel_sales_order(self, sales_order_id: str, *, idempotency_key: str) -> SalesOrder:
        await self.enter("cancel_sales_order")
        record: SalesOrder = self.records["sales_order"][sales_order_id]
        record.status = SalesOrderStatus.CANCELLED
        return record

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
        await self.enter("capture_payment")
        if reference == "tok_declined":
            raise BusinessRuleError("erp", "PaymentDeclined", "card declined", status=422)
        return self._once(  # type: ignore[no-any-return]
            idempotency_key,
            lambda: self._put(
                "payment",
                Payment(
                    payment_id=f"P-{order_id}",
                    order_id=order_id,
                    amount=amount,
                    currency=currency,
                    status="captured",
                ),
                "payment_id",
            ),
        )

    async def refund_payment(self, payment_id: str, *, idempotency_key: str) -> Payment:
        await self.enter("refund_payment")
        record: Payment = self.records["payment"][payment_id]
        record.status = "refunded"
        return record

    async def create_shipment(
        self,
        order_id: str,
        sales_order_id: str,
        address: Address,
        lines: list[OrderLine],
        *,
        idempotency_key: str,
    ) -> Shipment:
        await self.enter("create_shipment")
        return self._once(  # type: ignore[no-any-return]
            idempotency_key,
            lambda: self._put(
                "shipment",
                Shipment(
                    shipment_id=f"S-{order_id}",
                    order_id=order_id,
                    status=ShipmentStatus.CREATED,
                    tracking_number=f"TRK-{order_id}",
                ),
                "shipment_id",
            ),
        )

    async def confirm_delivery(
        self, shipment_id: str, delivered_at: datetime, *, idempotency_key: str
    ) -> Shipment:
        await self.enter("confirm_delivery")
        record: Shipment = self.records["shipment"][shipment_id]
        record.status = ShipmentStatus.DELIVERED
        return record

    async def cancel_shipment(self, shipment_id: str, *, idempotency_key: str) -> Shipment:
        await self.enter("cancel_shipment")
        record: Shipment = self.records["shipment"][shipment_id]
        delivered = record.status is ShipmentStatus.DELIVERED
        record.status = ShipmentStatus.RETURN_REQUESTED if delivered else ShipmentStatus.CANCELLED
        return record

    async def create_invoice(
        self, order_id: str, sales_order_id: str, *, idempotency_key: str
    ) -> Invoice:
        await self.enter("create_invoice")
        so: SalesOrder = self.records["sales_order"][sales_order_id]
        return self._once(  # type: ignore[no-any-return]
            idempotency_key,
            lambda: self._put(
                "invoice",
                Invoice(
                    invoice_id=f"I-{order_id}",
                    order_id=order_id,
                    amount=so.total,
                    currency=so.currency,
                    status="posted",
                ),
                "invoice_id",
            ),
        )

    async def credit_invoice(self, invoice_id: str, *, idempotency_key: str) -> Invoice:
        await self.enter("credit_invoice")
        record: Invoice = self.records["invoice"][invoice_id]
        record.status = "credited"
        return record

    async def order_changes(
        self, updated_since: datetime | None, cursor: str | None, limit: int
    ) -> OrderChangePage:
        return OrderChangePage(items=[], next_cursor=None)

    async def customer_changes(
        self, updated_since: datetime | None, cursor: str | None, limit: int
    ) -> CustomerChangePage:
        return CustomerChangePage(items=[], next_cursor=None)

    async def aclose(self) -> None:
        return None


class InMemoryCrm(Scripted):
    def __init__(self) -> None:
        super().__init__()
        self.contacts: dict[str, CrmRecord] = {}
        self.deals: dict[str, CrmRecord] = {}
        # What batch_upsert wrote (the ERP→CRM sync): object type → id → record.
        self.objects: dict[str, dict[str, CrmRecord]] = {}
        self.upserts: Counter[str] = Counter()

    @staticmethod
    def _record(id: str, properties: dict[str, str | None]) -> CrmRecord:
        now = datetime.now(UTC)
        return CrmRecord(id=id, properties=properties, created_at=now, updated_at=now)

    async def upsert_contact(self, contact: CrmContact) -> CrmRecord:
        await self.enter("upsert_contact")
        record = self._record(f"C{len(self.contacts) + 1}", {"email": contact.email})
        return self.contacts.setdefault(contact.customer_id, record)

    async def upsert_deal(self, deal: CrmDeal) -> CrmRecord:
        await self.enter("upsert_deal")
        existing = self.deals.get(deal.order_id)
        record = self._record(existing.id if existing else f"D{len(self.deals) + 1}", {})
        record.properties = {"dealstage": deal.stage.value, "amount": str(deal.amount)}
        self.deals[deal.order_id] = record
        return record

    async def associate_deal_contact(self, deal_id: str, contact_id: str) -> None:
        await self.enter("associate_deal_contact")

    async def set_deal_stage(self, order_id: str, stage: DealStage) -> CrmRecord | None:
        await self.enter("set_deal_stage")
        deal = self.deals.get(order_id)
        if deal is not None:
            deal.properties["dealstage"] = stage.value
        return deal

    async def find_deal(self, order_id: str) -> CrmRecord | None:
        return self.deals.get(order_id)

    async def batch_upsert(
        self, object_type: str, id_property: str, records: list[CrmUpsert]
    ) -> list[CrmRecord]:
        """Objects by type and id: the same upsert twice leaves one object (`upserts` counts
        every write, so a test can tell a page written twice)."""
        await self.enter("batch_upsert")
        table = self.objects.setdefault(object_type, {})
        out = []
        for item in records:
            self.upserts[object_type] += 1
            old = table.get(item.id)
            props = {**(old.properties if old else {}), **item.properties, id_property: item.id}
            table[item.id] = self._record(old.id if old else f"{object_type}-{item.id}", props)
            out.append(table[item.id])
        return out

    async def batch_read(
        self, object_type: str, id_property: str, ids: list[str], properties: list[str]
    ) -> list[CrmRecord]:
        await self.enter("batch_read")
        table = self.objects.get(object_type, {})
        return [table[i] for i in dict.fromkeys(ids) if i in table]

    async def count(self, object_type: str, filters: Sequence[Mapping[str, str]] = ()) -> int:
        """Counts the objects of a type that have every filtered property (ranges ignored)."""
        names = [f["propertyName"] for f in filters]
        table = self.objects.get(object_type, {})
        return sum(1 for r in table.values() if all(r.properties.get(n) for n in names))

    async def aclose(self) -> None:
        return None


def _keeps_the_ports(erp: InMemoryErp) -> tuple[ErpPort, PurchasingPort]:
    """Never called: mypy proves here that the fake implements both ERP ports."""
    return erp, erp
