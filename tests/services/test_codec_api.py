"""The codec endpoint as a real process: Temporal's codec JSON, CORS for the UI only, a token."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from continuum.supervisor import ManagedProcess, free_port, http_ok, python_module

UI = "http://localhost:8233"
PLAIN = {"encoding": "json/plain"}


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def payload(value: object) -> dict[str, object]:
    return {
        "metadata": {k: b64(v.encode()) for k, v in PLAIN.items()},
        "data": b64(json.dumps(value).encode()),
    }


Start = Callable[..., str]


@pytest.fixture(scope="module")
def codec(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Start]:
    """Starts codec endpoints; answers their base URL. One process per environment for the
    module: the endpoint keeps no state between requests, so the tests that ask for the same
    environment share it, and it is stopped at the module's end."""
    logs = tmp_path_factory.mktemp("codec")
    started: dict[tuple[tuple[str, str], ...], tuple[ManagedProcess, str]] = {}

    def start(**env: str) -> str:
        key = tuple(sorted(env.items()))
        if key in started and started[key][0].alive():
            return started[key][1]
        port = free_port()
        argv = python_module(
            "services.codec", "--port", str(port), "--ui-origin", UI, "--log-level", "warning"
        )
        proc = ManagedProcess("codec", argv, log_path=logs / f"codec-{port}.log", env=env)
        url = f"http://127.0.0.1:{port}"
        started[key] = (proc.start(), url)
        proc.wait_ready(lambda: http_ok(f"{url}/healthz"), timeout=30)
        return url

    try:
        yield start
    finally:
        for proc, _ in started.values():
            proc.stop()


def test_encode_then_decode_round_trips_in_temporals_format(codec: Start) -> None:
    url = codec()
    sent = {"payloads": [payload({"email": "ada@example.com"}), payload("x")]}
    encoded = httpx.post(f"{url}/encode", json=sent, headers={"X-Namespace": "default"})
    assert encoded.status_code == 200
    sealed = encoded.json()["payloads"]
    assert base64.b64decode(sealed[0]["metadata"]["encoding"]) == b"binary/encrypted"
    assert b"ada@example.com" not in base64.b64decode(sealed[0]["data"])
    decoded = httpx.post(f"{url}/decode", json={"payloads": sealed})
    assert decoded.status_code == 200
    assert decoded.json() == sent


def test_cors_admits_the_ui_origin_only(codec: Start) -> None:
    url = codec()
    preflight = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type,x-namespace",
    }
    allowed = httpx.options(f"{url}/decode", headers={"Origin": UI, **preflight})
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == UI
    refused = httpx.options(f"{url}/decode", headers={"Origin": "http://evil.test", **preflight})
    assert refused.status_code == 400
    assert "access-control-allow-origin" not in refused.headers


def test_a_token_when_configured_is_required(codec: Start) -> None:
    url = codec(CODEC_ENDPOINT_TOKEN="codec-token-123456")
    body = {"payloads": [payload("x")]}
    assert httpx.post(f"{url}/decode", json=body).status_code == 401
    wrong = {"Authorization": "Bearer nope"}
    assert httpx.post(f"{url}/decode", json=body, headers=wrong).status_code == 401
    right = {"Authorization": "Bearer codec-token-123456"}
    assert httpx.post(f"{url}/decode", json=body, headers=right).status_code == 200


def test_a_payload_of_an_unknown_key_and_a_malformed_body_are_refused(codec: Start) -> None:
    url = codec()
    foreign = {
        "metadata": {"encoding": b64(b"binary/encrypted"), "encryption-key-id": b64(b"gone")},
        "data": b64(b"\0" * 40),
    }
    answer = httpx.post(f"{url}/decode", json={"payloads": [foreign]})
    assert answer.status_code == 422
    assert "gone" in answer.json()["detail"]
    json_type = {"Content-Type": "application/json"}
    assert httpx.post(f"{url}/decode", content=b"not json", headers=json_type).status_code == 400


def test_it_refuses_to_start_without_keys(tmp_path: Path) -> None:
    argv = python_module("services.codec", "--port", str(free_port()), "--ui-origin", UI)
    proc = ManagedProcess(
        "codec",
        argv,
        log_path=tmp_path / "codec.log",
        env={
            "CONTINUUM_CODEC_KEYS": "",
            "CONTINUUM_CODEC_KEY_FILE": "",
            "CONTINUUM_DATA_DIR": str(tmp_path),
        },
    ).start()
    try:
        assert proc.proc is not None
        assert proc.proc.wait(timeout=30) == 2
        assert "no codec keys" in proc.tail()
    finally:
        proc.stop()


def test_health_and_readiness(codec: Start) -> None:
    url = codec()
    assert httpx.get(f"{url}/healthz").json()["keys"] >= 1
    ready = httpx.get(f"{url}/readyz")
    assert (ready.status_code, ready.json()) == (200, {"ready": True})
