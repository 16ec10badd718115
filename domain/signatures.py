"""Webhook signatures, one scheme both ways: the gateway checks its senders with it, the
business-event webhooks sign with it. HMAC-SHA256 over `<timestamp>.<body>`, in the header

    X-Continuum-Signature: t=<unix seconds>,v1=<hex digest>[,v1=<hex digest>...]

as Stripe does. Several v1 values let a sender sign with an old and a new secret while the
secret rotates. The timestamp is inside the signed text, so a captured request cannot be
re-sent with a fresh one; outside the replay window it is refused even when authentic.
"""

from __future__ import annotations

import hashlib
import hmac

HEADER = "X-Continuum-Signature"
REPLAY_WINDOW_SECONDS = 300


class SignatureError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def digest(secret: str, timestamp: int, body: bytes) -> str:
    signed = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The header value a sender puts on `body` at `timestamp`."""
    return f"t={timestamp},v1={digest(secret, timestamp, body)}"


def verify(
    secret: str,
    header: str | None,
    body: bytes,
    now: float,
    window: int = REPLAY_WINDOW_SECONDS,
) -> int:
    """The signed timestamp when `header` signs `body` with `secret` within the window."""
    if not header:
        raise SignatureError("MissingSignature", f"the {HEADER} header is missing")
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isascii() and value.isdigit():
            timestamp = int(value)
        elif key == "v1" and value:
            candidates.append(value)
    if timestamp is None or not candidates:
        raise SignatureError(
            "MalformedSignature", f"the {HEADER} header must look like t=<unix seconds>,v1=<hex>"
        )
    expected = digest(secret, timestamp, body)
    # compare_digest on every candidate: no early exit that would time which one matched.
    if not any([hmac.compare_digest(expected, c) for c in candidates]):
        raise SignatureError("BadSignature", "the signature does not match the body and timestamp")
    if abs(now - timestamp) > window:
        raise SignatureError(
            "StaleTimestamp",
            f"the signed timestamp {timestamp} is {abs(now - timestamp):.0f}s from the "
            f"gateway's clock; the replay window is {window}s",
        )
    return timestamp
