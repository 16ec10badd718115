"""`continuum drill --short`, as `make test` runs it: every fault once, every invariant holds,
for the orders, the sync and the purchases among them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from domain.drill import ContinuityReport, FaultKind, Invariant, OrderKind
from domain.drill_detection import StopKind
from domain.drill_purchases import PurchaseKind

DRILL_WITHIN = 540  # seconds; the drill itself takes about two to three minutes here


def run_drill(data_dir: Path) -> tuple[int, str]:
    """The CLI in a subprocess; SIGTERM on timeout, which stops the stack it started."""
    log = data_dir / "drill.out"
    argv = [sys.executable, "-m", "starters", "drill", "--short", "--data-dir", str(data_dir)]
    env = {**os.environ, "COLUMNS": "200", "TERM": "dumb"}
    with log.open("w") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env)
        try:
            code = proc.wait(timeout=DRILL_WITHIN)
        finally:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=90)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
    return code, log.read_text()


@pytest.mark.timeout(DRILL_WITHIN + 120)
def test_short_drill_keeps_the_business_running(tmp_path: Path) -> None:
    code, output = run_drill(tmp_path)
    assert code == 0, output[-5000:]
    assert_report(tmp_path, output)


def assert_report(data_dir: Path, output: str) -> None:
    """What a passing short drill shows in its report (also for a drill run by hand:
    `continuum drill --short --data-dir D > D/drill.out`, then this on D)."""
    assert "continuity drill PASSED" in output
    report = ContinuityReport.model_validate_json((data_dir / "report.json").read_text())
    assert report.passed
    judged = {r.invariant for r in report.invariants if r.held}
    assert judged == set(Invariant)
    # 200 orders through the faults, then the detection part's light load (standard orders).
    standard = report.by_kind[OrderKind.STANDARD.value]
    assert report.orders == 12 + standard and standard > 188 and report.success_rate >= 0.98
    assert report.by_kind == {
        OrderKind.STANDARD.value: standard,
        OrderKind.INVALID.value: 4,
        OrderKind.DECLINED.value: 4,
        OrderKind.APPROVAL.value: 4,
    }
    assert report.by_status["Invalid"] == 4 and report.by_status["AwaitingApproval"] == 4
    assert report.completed == standard and report.compensations == 4
    # Every fault happened, and the faults were felt: retries absorbed them.
    assert {w.kind for w in report.faults} == set(FaultKind)
    assert all(w.injected > 0 for w in report.faults)
    assert report.retries_absorbed > 0
    assert report.fault_stats["erp"]["outage_rejections"] > 0
    assert report.fault_stats["crm"]["errors"] > 0
    # After each restart, orders that were in flight moved again (how fast is reported only).
    assert [r.fault for r in report.recoveries] == [
        "worker SIGKILL + restart",
        "Temporal stop + restart",
    ]
    for recovery in report.recoveries:
        assert recovery.in_flight > 0 and recovery.resumed > 0, recovery
    temporal = next(w for w in report.faults if w.kind is FaultKind.TEMPORAL_RESTART)
    assert "the worker kept running through it" in temporal.note

    # The sync ran pass after pass through the faults, absorbed them, and left the CRM holding
    # one deal per ERP sales order (the completed and the 4 compensated orders; those awaiting
    # approval have none yet), one contact per demo customer (6) and one company for each
    # with a company (5), in step with the ERP, nothing quarantined.
    deals = standard + 4
    sync = report.sync
    assert sync is not None and sync.ran
    assert [p.label for p in sync.passes][-1] == "final" and len(sync.passes) >= 3
    assert all(p.completed for p in sync.passes)
    assert sync.records >= deals + 6 and sync.retries > 0
    assert {"ERP outage 8s", "CRM 429 storm 50%"} <= set(sync.faults_met)
    assert (sync.duplicates, sync.missing, sync.extra, sync.disagreeing) == (0, 0, 0, 0)
    assert sync.quarantined == 0 and sync.erp_records == sync.crm_objects == deals + 6 + 5
    assert "sync met" in output and "CRM mirrors ERP" in output

    # Purchases ran among the orders through the same faults, three of each kind: those over
    # their tolerance wait on a buyer (3) or were accepted by one and paid (3), the duplicate
    # invoices were refused and paid once (3), an invoice sent before its goods was paid only
    # after them; the ERP holds one purchase order, receipt and invoice per purchase and one
    # payment per paid one.
    bought = report.purchases
    assert bought is not None
    assert bought.by_kind == {kind.value: 3 for kind in PurchaseKind}
    assert bought.by_status == {"Completed": 15, "InException": 3}
    assert (bought.as_expected, bought.payments, bought.refused) == (18, 15, 3)
    assert (bought.decided, bought.waiting) == (3, 3) and bought.exceptions >= 6
    assert bought.erp_records == {
        "purchase_orders": 18,
        "goods_receipts": 18,
        "supplier_invoices": 18,
        "supplier_payments": 15,
    }
    assert bought.violations == [] and "purchasing" in output
    assert list(report.phases)[:3] == ["stack start", "load and faults", "settling"]

    # Detection: each stop of business paged by its rule within 15 min (seconds here) and
    # resolved after the recovery; nothing paged while nothing was stopped.
    detection = report.detection
    assert detection is not None and detection.false_alerts == []
    assert [s.kind for s in detection.stops] == list(StopKind)
    for stop in detection.stops:
        assert stop.detected and stop.resolved, stop
        assert stop.seconds_to_detect is not None and stop.seconds_to_detect < 120, stop
    assert "Detection" in output and "false alerts: none" in output
    for chart in ("timeline.png", "detection.png"):
        assert (data_dir / chart).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not (data_dir / "stack").exists()  # a passing drill without --keep cleans up
