"""The gateway's `POST /alertmanager` as a process, with Temporal out of reach: the token before
anything of the body is read, the cap while the body streams, a malformed webhook refused in one
line, and a good one answered 503 (Alertmanager retries) when Temporal cannot take it."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from continuum.supervisor import ManagedProcess, free_port, http_ok, python_module
from tests.services.test_gateway_service import SECRETS, gateway

__all__ = ["gateway"]  # the gateway without a token (the lead's fixture), for the 404

TOKEN = "alertmanager-token-for-the-test"


@pytest.fixture(scope="module")
def receiver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    work = tmp_path_factory.mktemp("alertmanager")
    port = free_port()
    env = {
        **SECRETS,
        "TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}",  # nothing listens: Temporal is down
        "GATEWAY_SESSION_SECRET": "session-secret-for-the-test",
        "GATEWAY_ALERTMANAGER_TOKEN": TOKEN,
        "CONTINUUM_DATA_DIR": str(work),
    }
    argv = python_module("services.gateway", "--port", str(port))
    proc = ManagedProcess("gateway", argv, log_path=work / "gateway.log", env=env).start()
    url = f"http://127.0.0.1:{port}"
    try:
        proc.wait_ready(lambda: http_ok(f"{url}/healthz"), timeout=30)
        yield url
    finally:
        proc.stop()
    assert TOKEN not in (work / "gateway.log").read_text()  # never logged


def webhook(**labels: str) -> dict[str, Any]:
    return {
        "version": "4",
        "status": "firing",
        "receiver": "continuum-gateway",
        "alerts": [
            {
                "status": "firing",
                "labels": {"alertname": "ContinuumWorkerDown", "severity": "critical", **labels},
                "annotations": {"summary": "No worker", "runbook": "type=order running"},
                "startsAt": "2026-12-07T09:20:00Z",
                "endsAt": "0001-01-01T00:00:00Z",
            }
        ],
    }


def post(url: str, body: bytes, token: str | None = TOKEN) -> httpx.Response:
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return httpx.post(f"{url}/alertmanager", content=body, headers=headers, timeout=30)


def error(answer: httpx.Response) -> tuple[int, str, str]:
    found = answer.json()["error"]
    return answer.status_code, found["code"], found["message"]


def endless(url: str, token: str | None, mebibytes: int = 16) -> bytes:
    """A chunked body that never ends: the answer must come while it streams."""
    parts = urlsplit(url)
    assert parts.hostname and parts.port
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    chunk = b"x" * (1 << 20)
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as sock:
        head = (
            f"POST /alertmanager HTTP/1.1\r\nHost: {parts.hostname}\r\n{auth}"
            "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        sock.sendall(head.encode())
        try:
            for _ in range(mebibytes):
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        except (BrokenPipeError, ConnectionResetError):
            pass  # it answered and closed: read the answer
        return sock.recv(4096)


def test_without_a_token_or_with_a_wrong_one_it_is_401(receiver: str) -> None:
    body = json.dumps(webhook()).encode()
    status, code, message = error(post(receiver, body, token=None))
    assert (status, code) == (401, "MissingToken") and "Bearer" in message
    answer = post(receiver, body, token="not-the-token-at-all")
    assert error(answer)[:2] == (401, "BadToken")
    assert answer.headers["www-authenticate"].startswith("Bearer")


def test_the_token_is_checked_before_any_of_the_body_is_read(receiver: str) -> None:
    answer = endless(receiver, token=None)
    assert answer.startswith(b"HTTP/1.1 401") and b"MissingToken" in answer


def test_an_authenticated_body_over_the_cap_is_refused_while_it_streams(receiver: str) -> None:
    answer = endless(receiver, token=TOKEN)
    assert answer.startswith(b"HTTP/1.1 413") and b"PayloadTooLarge" in answer


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"[not json", "body: not valid JSON"),
        (json.dumps({**webhook(), "version": "3"}).encode(), "version: Input should be '4'"),
        (json.dumps(webhook(alertname="two words")).encode(), "alerts.0.labels.alertname"),
    ],
)
def test_a_malformed_webhook_is_one_line_and_sends_nothing(
    receiver: str, body: bytes, message: str
) -> None:
    status, code, text = error(post(receiver, body))
    assert (status, code) == (422, "MalformedAlert")
    assert text.startswith(message) and "\n" not in text


def test_without_temporal_a_good_webhook_is_503_so_alertmanager_retries(receiver: str) -> None:
    answer = post(receiver, json.dumps(webhook()).encode())
    status, code, _ = error(answer)
    assert (status, code) == (503, "TemporalUnavailable")
    assert answer.headers["retry-after"] == "10"


def test_a_gateway_without_the_token_has_the_receiver_off(gateway: tuple[str, Path]) -> None:
    url, _ = gateway
    status, code, message = error(post(url, json.dumps(webhook()).encode()))
    assert (status, code) == (404, "ReceiverNotConfigured")
    assert "GATEWAY_ALERTMANAGER_TOKEN" in message
