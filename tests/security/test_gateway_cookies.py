"""The inbox's session cookie is Secure by default; only a gateway on loopback goes without."""

from __future__ import annotations

import pytest

from services.gateway.__main__ import secure_cookies


@pytest.mark.parametrize(
    ("host", "setting", "secure"),
    [
        ("0.0.0.0", "", True),  # reachable from elsewhere: behind TLS
        ("10.0.0.5", "", True),
        ("127.0.0.1", "", False),  # the local stack over plain HTTP
        ("localhost", "", False),
        ("0.0.0.0", "0", False),  # explicit, both ways
        ("127.0.0.1", "1", True),
    ],
)
def test_secure_cookies_by_default(host: str, setting: str, secure: bool) -> None:
    assert secure_cookies(host, setting) is secure
