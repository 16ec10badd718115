"""`continuum up`, what `make run` runs: boots, demos, stops cleanly, keeps data, checks ports."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from continuum.stack import Ports
from continuum.supervisor import port_in_use
from tests.integration.conftest import free_ports


def up(data_dir: Path, ports: Ports, *extra: str) -> subprocess.Popen[str]:
    argv = [sys.executable, "-m", "starters", "up", "--data-dir", str(data_dir)]
    argv += ["--temporal-port", str(ports.temporal), "--ui-port", str(ports.ui)]
    argv += ["--erp-port", str(ports.erp), "--crm-port", str(ports.crm)]
    argv += ["--worker-metrics-port", str(ports.worker_metrics), "--codec-port", str(ports.codec)]
    argv += ["--gateway-port", str(ports.gateway), "--ops-metrics-port", str(ports.ops_metrics)]
    argv += [*extra]
    env = {**os.environ, "COLUMNS": "250", "TERM": "dumb"}
    env["REPORTS_DIR"] = str(data_dir / "reports")  # the first report lands here, not in ./reports
    return subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    )


def read_until(proc: subprocess.Popen[str], marker: str, within: float) -> str:
    """Output up to the line containing `marker`; fails if the process ends or time runs out."""
    assert proc.stdout is not None
    seen: list[str] = []
    deadline = time.monotonic() + within
    os.set_blocking(proc.stdout.fileno(), False)
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if line:
            seen.append(line)
            if marker in line:
                return "".join(seen)
        elif proc.poll() is not None:
            break
        else:
            time.sleep(0.05)
    # The caller's `stop` interrupts it, so that it stops the processes it started.
    raise AssertionError(f"no {marker!r} within {within}s; output:\n{''.join(seen)}")


def cli(ports: Ports, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "starters", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "TEMPORAL_ADDRESS": f"127.0.0.1:{ports.temporal}", "COLUMNS": "200"},
    )


def table_rows(shown: str, title: str) -> list[list[str]]:
    """The cells of the table printed under `title`, a cell the table wrapped joined again."""
    lines = shown[shown.index(title) :].splitlines()
    rows: list[list[str]] = []
    for line in lines[1:]:
        if line.startswith("└"):
            break
        if not line.startswith("│"):
            continue
        cells = [c.strip() for c in line.strip("│").split("│")]
        if cells[0]:
            rows.append(cells)
        else:  # the row above goes on
            rows[-1] = [f"{a} {b}".strip() for a, b in zip(rows[-1], cells, strict=True)]
    return rows


def stop(proc: subprocess.Popen[str]) -> tuple[int, str]:
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=60)
    return proc.returncode, out


def test_up_runs_the_demo_stops_cleanly_and_keeps_its_data(tmp_path: Path) -> None:
    ports = free_ports()
    proc = up(tmp_path, ports, "--orders", "4")
    try:
        shown = read_until(proc, "Stack is up", within=240)
        # A person approves the waiting demo order; the demo carrier then delivers it.
        [waiting] = re.findall(r"D-\d{8}-\d{6}-002", shown)[:1]
        approved = cli(ports, "order", "approve", waiting, "--by", "alice")
        assert approved.returncode == 0, approved.stderr
        deadline = time.monotonic() + 120
        while "Completed" not in (status := cli(ports, "order", "status", waiting)).stdout:
            assert time.monotonic() < deadline, status.stdout + status.stderr
            time.sleep(0.5)
    finally:
        code, rest = stop(proc)
    assert code == 0, rest
    assert "Completed" in shown and "Compensated" in shown and "AwaitingApproval" in shown
    assert f"http://localhost:{ports.ui}/namespaces/default/workflows/order-D-" in shown
    assert f"http://127.0.0.1:{ports.gateway}/inbox" in shown and "sign in as alice / " in shown
    # The demo purchases: one paid at once, one waiting for a buyer in the inbox, one whose
    # duplicate invoice was refused.
    purchases = table_rows(shown, "Demo purchases")
    assert [row[:3] for row in purchases] == [
        [purchases[0][0], "SUP-100", "Completed"],
        [purchases[1][0], "SUP-101", "InException"],
        [purchases[2][0], "SUP-102", "Completed"],
    ], shown
    paid, waiting, refused = (row[3] for row in purchases)
    assert "paid 249.90 EUR" in paid
    review = f"http://127.0.0.1:{ports.gateway}/inbox/approval-purchase-{purchases[1][0]}"
    assert f"waits for buyer in the inbox: {review}-exception-1" in waiting
    assert "refused os " in refused and ": duplicate of OS-" in refused
    assert "Purchase exceptions wait there too: sign in as bruno" in shown
    assert "stopped cleanly: codec, temporal, erp, crm, worker, ops-worker, gateway" in rest
    assert not any(port_in_use(p) for p in ports.named().values())
    assert (tmp_path / "temporal.db").exists() and (tmp_path / "erp.db").exists()
    assert (
        "Schedules: continuum-watchdog (created), erp-crm-sync (created), daily-report (created)"
        in shown
    )
    assert (
        f"Alerts (no receiver configured, WATCHDOG_CONFIG_FILE): {tmp_path / 'alerts.log'}" in shown
    )
    # The first sync filled the CRM from the ERP's demo data before the report was written.
    first_sync = re.search(r"First sync: (\d+) ERP record\(s\) read, (\d+) CRM upsert", shown)
    assert first_sync and int(first_sync[1]) > 0 and int(first_sync[2]) > 0, shown
    assert [p.parent.parent.name for p in tmp_path.glob("reports/*/index.html")] == ["reports"]
    assert "/index.html" in shown

    again = up(tmp_path, ports, "--no-demo")
    try:
        read_until(again, "Stack is up", within=120)
        listed = cli(ports, "order", "list")
    finally:
        stop(again)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.count("D-") >= 4  # the first run's orders survived the restart


def test_up_refuses_a_taken_port_and_starts_nothing(tmp_path: Path) -> None:
    ports = free_ports()
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", ports.erp))
        squatter.listen()
        proc = up(tmp_path, ports)
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 1
    assert f"port {ports.erp} (reference ERP) already in use" in out
    assert not any(port_in_use(p) for p in (ports.temporal, ports.ui, ports.crm))
    assert not (tmp_path / "temporal.db").exists()
