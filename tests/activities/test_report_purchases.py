"""The report's ERP purchase ledger against the real reference ERP process: it pages through
the ERP's purchase feed, adds received, invoiced and paid per currency (cancelled orders left
out), and says so when it stopped at its bound."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from temporalio.testing import ActivityEnvironment

from activities import reports
from activities.reports import ReportActivities, ReportConfig
from connectors.reference_erp import ReferenceErpClient
from domain.purchasing.figures import LedgerLine, PurchaseLedger
from domain.reports import ReportWindow
from tests.conftest import ServiceHandle
from tests.fakes import InMemoryCrm
from tests.services.purchasing_samples import due, invoice, receipt, requisition

NOW = datetime.now(UTC)
WINDOW = ReportWindow(
    day=date.today(), timezone="UTC", start=NOW - timedelta(days=1), end=NOW, as_of=NOW
)


@pytest.fixture(scope="module")
async def erp(module_erp: ServiceHandle) -> AsyncIterator[ReferenceErpClient]:
    client = ReferenceErpClient(module_erp.url, module_erp.api_token, timeout=5)
    yield client
    await client.aclose()


async def ledger(erp: ReferenceErpClient) -> PurchaseLedger:
    steps = ReportActivities(erp, InMemoryCrm(), None, ReportConfig())
    result: PurchaseLedger = await ActivityEnvironment().run(steps.report_purchase_ledger, WINDOW)
    return result


def eur(found: PurchaseLedger) -> LedgerLine:
    zero = Decimal(0)
    return next(
        (x for x in found.lines if x.currency == "EUR"),
        LedgerLine(currency="EUR", orders=0, total=zero, received=zero, invoiced=zero, paid=zero),
    )


async def test_the_ledger_adds_what_the_erp_received_invoiced_and_paid(
    erp: ReferenceErpClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reports, "LEDGER_PAGE", 2)  # several pages, whatever the seed holds
    before = eur(await ledger(erp))
    paid = requisition()
    rid = paid.requisition_id
    po = (await erp.create_purchase_order(paid, idempotency_key=f"{rid}:po")).purchase_order_id
    await erp.record_goods_receipt(po, receipt(rid), idempotency_key=f"{rid}:gr")
    await erp.post_supplier_invoice(po, invoice(rid), idempotency_key=f"{rid}:inv")
    await erp.pay_supplier(po, "SUP-100", due(f"INV-{rid}"), idempotency_key=f"{rid}:pay")
    dropped = requisition()
    did = dropped.requisition_id
    other = await erp.create_purchase_order(dropped, idempotency_key=f"{did}:po")
    await erp.cancel_purchase_order(other.purchase_order_id, idempotency_key=f"{did}:cancel")

    found = await ledger(erp)
    after = eur(found)
    assert found.available and found.note == ""
    # The cancelled order counts nowhere.
    assert after.orders - before.orders == 1
    assert after.total - before.total == Decimal("285.00")
    assert after.received - before.received == Decimal("285.00")
    assert after.invoiced - before.invoiced == Decimal("285.00")
    assert after.paid - before.paid == Decimal("339.15")  # payments are gross
    assert after.received_not_invoiced == before.received_not_invoiced


async def test_a_ledger_cut_at_its_bound_says_so(
    erp: ReferenceErpClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    req = requisition()
    await erp.create_purchase_order(req, idempotency_key=f"{req.requisition_id}:po")
    monkeypatch.setattr(reports, "LEDGER_PAGE", 1)
    monkeypatch.setattr(reports, "MAX_LEDGER_ORDERS", 1)
    found = await ledger(erp)
    assert found.note == "ledger: the first 1 purchase orders"
    assert sum(x.orders for x in found.lines) <= 1
