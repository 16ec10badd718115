"""The webhook endpoint reads at most its cap of an unauthenticated body, chunked or not."""

from __future__ import annotations

from pathlib import Path

from tests.security.chunked import answer_to_endless_body


def test_a_chunked_webhook_body_over_the_cap_is_refused_while_it_streams(
    gateway: tuple[str, Path],
) -> None:
    url, _ = gateway
    # 16 MiB, past the 1 MiB cap, never finished: the 413 must come before the body ends.
    answer = answer_to_endless_body(url, "/events/carrier", "application/json", 16)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:300]
    assert b"PayloadTooLarge" in answer
