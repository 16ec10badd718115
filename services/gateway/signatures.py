"""The gateway's webhook signatures: the scheme lives in `domain.signatures`, shared with the
business-event webhooks that Continuum sends (connectors/events/webhooks.py)."""

from __future__ import annotations

from domain.signatures import HEADER, REPLAY_WINDOW_SECONDS, SignatureError, digest, sign, verify

__all__ = ["HEADER", "REPLAY_WINDOW_SECONDS", "SignatureError", "digest", "sign", "verify"]
