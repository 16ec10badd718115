"""The gateway as a process with Temporal out of reach: it starts, says it is not ready, and
answers a valid event 503 (retry later) without recording it, so the sender's retry counts."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from continuum.supervisor import ManagedProcess, free_port, http_ok, python_module
from services.gateway.signatures import HEADER, sign

SECRETS = {
    "WEBHOOK_SECRET_CARRIER": "carrier-secret",
    "WEBHOOK_SECRET_SHOP": "shop-secret",
    "WEBHOOK_SECRET_PAYMENTS": "payments-secret",
    "WEBHOOK_SECRET_SUPPLIER": "supplier-secret",
    "WEBHOOK_SECRET_WAREHOUSE": "warehouse-secret",
}


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    work = tmp_path_factory.mktemp("gateway")
    port = free_port()
    env = {
        **SECRETS,
        # Nothing listens there: Temporal is down.
        "TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}",
        "GATEWAY_SESSION_SECRET": "session-secret-for-the-test",
        # The store (continuum.db) in the test's directory, never the checkout's .data.
        "CONTINUUM_DATA_DIR": str(work),
    }
    argv = python_module("services.gateway", "--port", str(port))
    proc = ManagedProcess("gateway", argv, log_path=work / "gateway.log", env=env).start()
    url = f"http://127.0.0.1:{port}"
    try:
        proc.wait_ready(lambda: http_ok(f"{url}/healthz"), timeout=30)
        yield url, work / "continuum.db"
    finally:
        proc.stop()


def signed_post(url: str, source: str, body: bytes, secret: str) -> httpx.Response:
    return httpx.post(
        f"{url}/events/{source}",
        content=body,
        headers={HEADER: sign(secret, body, int(time.time()))},
        timeout=30,
    )


def test_without_temporal_an_event_is_503_and_not_recorded(gateway: tuple[str, Path]) -> None:
    url, db = gateway
    assert httpx.get(f"{url}/healthz").json() == {"status": "ok"}
    ready = httpx.get(f"{url}/readyz", timeout=10)
    assert ready.status_code == 503 and "Temporal" in ready.json()["detail"]

    event = {"id": "E-503", "type": "shipment-delivered", "data": {"order_id": "O-1"}}
    body = json.dumps(event).encode()
    answer = signed_post(url, "carrier", body, SECRETS["WEBHOOK_SECRET_CARRIER"])
    assert answer.status_code == 503
    assert answer.json()["error"]["code"] == "TemporalUnavailable"
    assert answer.headers["Retry-After"]
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM webhook_receipts").fetchone()[0] == 0
    # A retry is processed again (503 again), not refused as a duplicate.
    again = signed_post(url, "carrier", body, SECRETS["WEBHOOK_SECRET_CARRIER"])
    assert again.json()["error"]["code"] == "TemporalUnavailable"


def test_authentication_comes_before_temporal(gateway: tuple[str, Path]) -> None:
    url, _ = gateway
    body = b'{"id": "E-1", "type": "shipment-delivered", "data": {"order_id": "O-1"}}'
    answer = signed_post(url, "carrier", body, "wrong")
    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "BadSignature"
