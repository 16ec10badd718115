"""Encrypts one personal field of an event for a subscriber that holds the codec's key:
AES-256-GCM with the newest key of the keyring, the event id as associated data (a value cannot
be moved to another event unnoticed). The value becomes

    {"encrypted": "<base64: nonce (12 bytes) + ciphertext>", "keyId": "<id>", "alg": "A256GCM"}

and decrypts (`decrypt`) to the field's JSON value.
"""

from __future__ import annotations

import base64
import json
import os
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

ALG = "A256GCM"
NONCE_BYTES = 12


class FieldCipher:
    def __init__(self, key_id: str, key: bytes) -> None:
        self.key_id = key_id
        self._aead = AESGCM(key)

    def encrypt(self, event_id: str, field: str, value: Any) -> dict[str, str]:
        nonce = os.urandom(NONCE_BYTES)
        plain = json.dumps(value, separators=(",", ":")).encode()
        sealed = nonce + self._aead.encrypt(nonce, plain, event_id.encode())
        return {"encrypted": base64.b64encode(sealed).decode(), "keyId": self.key_id, "alg": ALG}


def decrypt(key: bytes, event_id: str, sealed: dict[str, str]) -> Any:
    """What a subscriber with the key does with an encrypted field."""
    raw = base64.b64decode(sealed["encrypted"])
    plain = AESGCM(key).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], event_id.encode())
    return json.loads(plain)
