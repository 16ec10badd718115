"""`python -m benchmarks.http_client` runs both clients against its own uvicorn, prints a row
each and stops the server it started (figures are for BENCHMARKS.md, never asserted here)."""

from __future__ import annotations

import re
import subprocess
import sys


def test_the_http_client_benchmark_prints_both_clients_and_their_ratio() -> None:
    ran = subprocess.run(
        [sys.executable, "-m", "benchmarks.http_client", "--requests", "50", "--rounds", "1"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ran.returncode == 0, ran.stderr
    rows = re.findall(
        r"^\| (httpx \(httpcore\)|pooled \(aiohttp\)) \| \d+ \| \d+ \|$", ran.stdout, re.M
    )
    assert rows == ["httpx (httpcore)", "pooled (aiohttp)"], ran.stdout
    assert re.search(r"\*\*pooled / httpx: \d+\.\d\d\*\*", ran.stdout), ran.stdout
    left = subprocess.run(["pgrep", "-f", "benchmarks.http_client:app"], capture_output=True)
    assert left.returncode == 1, "the benchmark's uvicorn is still running"
