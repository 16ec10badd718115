"""Payload encryption: AES-256-GCM so the Temporal server holds no personal data.

Each payload is serialised whole (metadata and data) and encrypted with the newest key of a
keyring; the key id travels in the metadata, so a rotated keyring still reads older payloads.
Payloads that are not encrypted (recorded plaintext histories, search attributes) pass through.

Keys come from the environment, never from the repository, in this order:
1. `CONTINUUM_CODEC_KEYS`: `id1:base64key,id2:base64key`, newest last;
2. `CONTINUUM_CODEC_KEY_FILE`: a JSON file (mode 0600) that `continuum keys rotate` writes;
3. `<CONTINUUM_DATA_DIR or .data>/codec-keys.json` when it exists (made by `make run`).
With none of these there is no key: new payloads stay plaintext, and an encrypted payload
fails to decode with a message that names the missing setting.

Strict mode (the worker's, on whenever keys are configured): a payload that arrives unencrypted
is marked here, and `continuum.converter` refuses it where the SDK can refuse one input alone.
Refusing here would fail the whole workflow task and retry it forever, poisoning the target.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import secrets
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec

KEYS_ENV = "CONTINUUM_CODEC_KEYS"
KEY_FILE_ENV = "CONTINUUM_CODEC_KEY_FILE"
KEY_FILE_NAME = "codec-keys.json"
ENCODING = b"binary/encrypted"
KEY_ID = "encryption-key-id"
# Metadata the strict codec adds to a payload that arrived unencrypted.
UNENCRYPTED = "continuum-unencrypted"
NONCE_BYTES = 12
KEY_BYTES = 32  # AES-256


class CodecError(ValueError):
    """A payload cannot be decrypted, or the keys are not usable; the message says why."""


@dataclass(frozen=True)
class Keyring:
    """Key id → 32-byte key, in age order: the last one encrypts, all of them decrypt."""

    keys: dict[str, bytes] = field(default_factory=dict)
    source: str = "no keys configured"

    def __post_init__(self) -> None:
        for key_id, key in self.keys.items():
            if not key_id or any(c in key_id for c in ":, "):
                raise CodecError(f"codec key id {key_id!r} is not valid (no ':', ',' or spaces)")
            if len(key) != KEY_BYTES:
                raise CodecError(f"codec key {key_id!r} has {len(key)} bytes, not {KEY_BYTES}")

    @property
    def newest(self) -> str | None:
        return next(reversed(self.keys), None)

    def secrets(self) -> list[str]:
        """The keys as they are written down, for the log redaction filter."""
        return [_b64(key) for key in self.keys.values()]


def _b64(key: bytes) -> str:
    return base64.b64encode(key).decode()


def _unb64(text: str, key_id: str) -> bytes:
    try:
        return base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise CodecError(f"codec key {key_id!r} is not valid base64") from None


def parse_keys(spec: str, source: str = KEYS_ENV) -> Keyring:
    """`id1:base64key,id2:base64key` (newest last)."""
    keys: dict[str, bytes] = {}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        key_id, sep, text = item.partition(":")
        if not sep:
            raise CodecError(f"{source}: expected id:base64key, got an entry without ':'")
        keys[key_id.strip()] = _unb64(text, key_id)
    return Keyring(keys, source)


def read_key_file(path: Path) -> Keyring:
    try:
        document = json.loads(path.read_text())
        entries = document["keys"]
        keys = {str(e["id"]): _unb64(str(e["key"]), str(e["id"])) for e in entries}
    except FileNotFoundError:
        raise CodecError(f"codec key file {path} does not exist") from None
    except (OSError, ValueError, KeyError, TypeError) as err:
        if isinstance(err, CodecError):
            raise
        raise CodecError(f"codec key file {path} is not readable: {type(err).__name__}") from None
    return Keyring(keys, str(path))


def default_key_file(env: Mapping[str, str]) -> Path:
    return Path(env.get("CONTINUUM_DATA_DIR", ".data")) / KEY_FILE_NAME


def load_keyring(env: Mapping[str, str] | None = None) -> Keyring:
    """The keyring the environment names (see the module docstring); empty when none."""
    env = os.environ if env is None else env
    if env.get(KEYS_ENV, "").strip():
        return parse_keys(env[KEYS_ENV])
    if env.get(KEY_FILE_ENV, "").strip():
        return read_key_file(Path(env[KEY_FILE_ENV]))
    default = default_key_file(env)
    if default.exists():
        return read_key_file(default)
    return Keyring()


def new_key_id() -> str:
    return f"{datetime.now(UTC):%Y%m%d}-{secrets.token_hex(4)}"


def rotate_key_file(path: Path) -> str:
    """Adds a new newest key to the file (made 0600 if missing); returns its id.

    Older keys stay: payloads they encrypted are still in histories and must stay readable.
    """
    entries: list[dict[str, str]] = []
    if path.exists():
        read_key_file(path)  # refuse to extend a file that is not a keyring
        entries = json.loads(path.read_text())["keys"]
    key_id = new_key_id()
    entries.append(
        {
            "id": key_id,
            "key": _b64(AESGCM.generate_key(bit_length=256)),
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
        }
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    # Written to a new 0600 file first, so the keys are never readable by others, then swapped in.
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump({"keys": entries}, out, indent=2)
        out.write("\n")
    tmp.replace(path)
    return key_id


def ensure_key_file(path: Path) -> Path:
    """The key file at `path`, with a first key generated when it does not exist yet."""
    if not path.exists():
        rotate_key_file(path)
    return path


class EncryptionCodec(PayloadCodec):
    """AES-256-GCM with the keyring's newest key; `reload` is tried once on an unknown key id,
    so that a long-running process (the codec endpoint, a worker) picks up a rotated key file."""

    def __init__(
        self, keyring: Keyring, reload: Callable[[], Keyring] | None = None, strict: bool = False
    ) -> None:
        super().__init__()
        self.keyring = keyring
        self.reload = reload
        self.strict = strict

    async def encode(self, payloads: Iterable[Payload]) -> list[Payload]:
        return [self.encrypt(p) for p in payloads]

    async def decode(self, payloads: Iterable[Payload]) -> list[Payload]:
        return [self.decrypt(p) for p in payloads]

    def encrypt(self, payload: Payload) -> Payload:
        key_id = self.keyring.newest
        if key_id is None:
            return payload
        nonce = os.urandom(NONCE_BYTES)
        sealed = AESGCM(self.keyring.keys[key_id]).encrypt(
            nonce, payload.SerializeToString(), key_id.encode()
        )
        return Payload(
            metadata={"encoding": ENCODING, KEY_ID: key_id.encode()}, data=nonce + sealed
        )

    def decrypt(self, payload: Payload) -> Payload:
        if payload.metadata.get("encoding") != ENCODING:
            if not self.strict:
                return payload
            marked = Payload()
            marked.CopyFrom(payload)
            marked.metadata[UNENCRYPTED] = b"1"
            return marked
        try:
            key_id = payload.metadata.get(KEY_ID, b"").decode()
        except UnicodeDecodeError:
            raise CodecError("payload names a key id that is not UTF-8 text") from None
        key = self._key(key_id)
        try:
            # The key id is authenticated data: a payload relabelled with another id fails too.
            plain = AESGCM(key).decrypt(
                payload.data[:NONCE_BYTES], payload.data[NONCE_BYTES:], key_id.encode()
            )
        except InvalidTag:
            raise CodecError(
                f"payload encrypted with key {key_id!r} does not decrypt: it was altered "
                "or the key under that id is not the one that encrypted it"
            ) from None
        return Payload.FromString(plain)

    def _key(self, key_id: str) -> bytes:
        if key_id not in self.keyring.keys and self.reload is not None:
            self.keyring = self.reload()
        if key_id not in self.keyring.keys:
            if not self.keyring.keys:
                raise CodecError(
                    f"payload is encrypted (key {key_id!r}) but no codec keys are configured: "
                    f"set {KEYS_ENV} or {KEY_FILE_ENV}, or run in the directory whose "
                    f".data/{KEY_FILE_NAME} `make run` made"
                )
            raise CodecError(
                f"payload is encrypted with key {key_id!r}, which is not in the keyring "
                f"({self.keyring.source}); keep retired keys in the keyring"
            )
        return self.keyring.keys[key_id]
