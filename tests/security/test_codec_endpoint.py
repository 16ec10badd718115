"""The codec endpoint is no decryption oracle: not for a rebinding web page, another origin,
another content type, an endless body, or a payload with a garbled key id."""

from __future__ import annotations

import base64

import httpx

from tests.security.chunked import answer_to_endless_body
from tests.services.test_codec_api import UI, Start, payload


def test_a_foreign_host_name_is_refused(codec: Start) -> None:
    url = codec()
    # DNS rebinding: the attacker's name resolves to 127.0.0.1, so the browser sends its Host.
    sent = {"payloads": [payload("x")]}
    answer = httpx.post(f"{url}/decode", json=sent, headers={"Host": "evil.example:8234"})
    assert answer.status_code == 400
    assert httpx.post(f"{url}/decode", json=sent).status_code == 200


def test_a_request_from_another_origin_is_refused(codec: Start) -> None:
    url = codec()
    sent = {"payloads": [payload("x")]}
    foreign = httpx.post(f"{url}/decode", json=sent, headers={"Origin": "http://evil.example"})
    assert foreign.status_code == 403
    assert httpx.post(f"{url}/decode", json=sent, headers={"Origin": UI}).status_code == 200


def test_only_json_is_accepted(codec: Start) -> None:
    url = codec()
    body = b'{"payloads": []}'
    plain = httpx.post(f"{url}/decode", content=body, headers={"Content-Type": "text/plain"})
    assert plain.status_code == 415
    typed = httpx.post(f"{url}/decode", content=body, headers={"Content-Type": "application/json"})
    assert typed.status_code == 200


def test_a_chunked_body_over_the_cap_is_refused_while_it_streams(codec: Start) -> None:
    # 12 MiB, past the 8 MiB cap, and no final chunk: the answer must come before the end.
    answer = answer_to_endless_body(codec(), "/decode", "application/json", 12)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]


def test_a_key_id_that_is_not_utf8_is_a_clear_refusal(codec: Start) -> None:
    url = codec()
    garbled = {
        "metadata": {
            "encoding": base64.b64encode(b"binary/encrypted").decode(),
            "encryption-key-id": base64.b64encode(b"\xff\xfe").decode(),
        },
        "data": base64.b64encode(b"\x00" * 40).decode(),
    }
    answer = httpx.post(f"{url}/decode", json={"payloads": [garbled]})
    assert answer.status_code == 422
    assert "not UTF-8" in answer.json()["detail"]
