"""The payload codec: AES-256-GCM round trip, key rotation, and refusals that say why."""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.api.failure.v1 import Failure
from temporalio.exceptions import ApplicationError

from continuum.codec import (
    ENCODING,
    KEY_FILE_ENV,
    KEY_FILE_NAME,
    KEY_ID,
    KEYS_ENV,
    CodecError,
    EncryptionCodec,
    Keyring,
    load_keyring,
    parse_keys,
    read_key_file,
    rotate_key_file,
)
from continuum.converter import data_converter, plaintext_data_converter
from domain.orders.contract import OrderToCashInput
from domain.orders.models import Order
from tests import samples


def keyring(*ids: str) -> Keyring:
    return Keyring({key_id: os.urandom(32) for key_id in ids})


def grown(ring: Keyring, key_id: str) -> Keyring:
    """`ring` with a new newest key, as a rotation leaves it."""
    return Keyring({**ring.keys, key_id: os.urandom(32)})


async def test_an_order_round_trips_and_its_personal_data_is_not_in_the_payload() -> None:
    order = samples.order(order_id="E-1")
    converter = data_converter(keyring("k1"))
    [payload] = await converter.encode([OrderToCashInput(order=order)])
    assert payload.metadata["encoding"] == ENCODING
    assert payload.metadata[KEY_ID] == b"k1"
    for personal in (order.customer.email, order.shipping_address.street, "E-1"):
        assert personal.encode() not in payload.SerializeToString()
    [back] = await converter.decode([payload], [OrderToCashInput])
    assert back.order == order


async def test_rotation_keeps_old_payloads_readable_and_encrypts_with_the_newest_key() -> None:
    old = keyring("2025-old")
    [sealed_old] = await data_converter(old).encode([samples.order(order_id="E-2")])
    rotated = grown(old, "2026-new")
    converter = data_converter(rotated)
    [back] = await converter.decode([sealed_old], [Order])
    assert back.order_id == "E-2"
    [sealed_new] = await converter.encode([samples.order(order_id="E-3")])
    assert sealed_new.metadata[KEY_ID] == b"2026-new"
    # A process still on the old keyring cannot read the new key's payloads, and says so.
    with pytest.raises(CodecError, match="2026-new"):
        await data_converter(old).decode([sealed_new], [Order])


async def test_an_unknown_key_id_is_a_clear_error() -> None:
    [sealed] = await data_converter(keyring("gone")).encode(["x"])
    with pytest.raises(CodecError, match=r"key 'gone', which is not in the keyring"):
        await data_converter(keyring("other")).decode([sealed], [str])


async def test_without_keys_payloads_stay_plaintext_and_encrypted_ones_name_the_setting() -> None:
    converter = data_converter(Keyring())
    [plain] = await converter.encode(["hello"])
    assert plain.metadata["encoding"] == b"json/plain"
    [sealed] = await data_converter(keyring("k1")).encode(["hello"])
    with pytest.raises(CodecError, match=KEYS_ENV):
        await converter.decode([sealed], [str])


async def test_tampered_ciphertext_and_a_relabelled_key_id_are_refused() -> None:
    ring = keyring("a", "b")
    codec = EncryptionCodec(ring)
    [sealed] = await codec.encode([Payload(metadata={"encoding": b"json/plain"}, data=b'"x"')])
    flipped = bytearray(sealed.data)
    flipped[-1] ^= 0x01
    tampered = Payload(metadata=dict(sealed.metadata), data=bytes(flipped))
    with pytest.raises(CodecError, match="altered"):
        await codec.decode([tampered])
    relabelled = Payload(metadata={**sealed.metadata, KEY_ID: b"a"}, data=sealed.data)
    with pytest.raises(CodecError, match="altered"):
        await codec.decode([relabelled])


async def test_plaintext_payloads_pass_through_decode_untouched() -> None:
    """Recorded plaintext histories (tests/histories) replay through the encrypting converter."""
    [plain] = await plaintext_data_converter().encode([samples.order(order_id="E-4")])
    [same] = await EncryptionCodec(keyring("k1")).decode([plain])
    assert same == plain


async def test_failure_messages_travel_encrypted() -> None:
    """An invalid e-mail is quoted in the failure message: it must not reach the server."""
    converter = data_converter(keyring("k1"))
    failure = Failure()
    message = "'ada@example.com' is not an e-mail address"
    await converter.encode_failure(ApplicationError(message, non_retryable=True), failure)
    assert b"ada@example.com" not in failure.SerializeToString()
    back = await converter.decode_failure(failure)
    assert isinstance(back, ApplicationError)
    assert back.message == message


def test_key_file_rotation_appends_a_0600_file_and_keeps_old_keys(tmp_path: Path) -> None:
    path = tmp_path / "keys" / KEY_FILE_NAME
    first = rotate_key_file(path)
    second = rotate_key_file(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    ring = read_key_file(path)
    assert list(ring.keys) == [first, second]
    assert ring.newest == second
    assert all(len(key) == 32 for key in ring.keys.values())


def test_keys_come_from_the_environment_then_the_file_then_the_data_dir(tmp_path: Path) -> None:
    inline = base64.b64encode(os.urandom(32)).decode()
    in_file = tmp_path / "explicit.json"
    rotate_key_file(in_file)
    data_dir = tmp_path / "data"
    rotate_key_file(data_dir / KEY_FILE_NAME)
    base = {"CONTINUUM_DATA_DIR": str(data_dir)}
    assert list(load_keyring({**base, KEYS_ENV: f"env1:{inline}"}).keys) == ["env1"]
    assert load_keyring({**base, KEY_FILE_ENV: str(in_file)}).source == str(in_file)
    assert load_keyring(base).source == str(data_dir / KEY_FILE_NAME)
    assert load_keyring({"CONTINUUM_DATA_DIR": str(tmp_path / "none")}).keys == {}


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        ("nocolon", "without ':'"),
        ("k1:not-base64!!", "not valid base64"),
        (f"k1:{base64.b64encode(b'short').decode()}", "has 5 bytes"),
    ],
)
def test_a_malformed_key_spec_is_refused(spec: str, problem: str) -> None:
    with pytest.raises(CodecError, match=problem):
        parse_keys(spec)


def test_a_key_file_that_is_not_a_keyring_is_refused(tmp_path: Path) -> None:
    path = tmp_path / KEY_FILE_NAME
    path.write_text(json.dumps({"something": "else"}))
    with pytest.raises(CodecError, match="not readable"):
        read_key_file(path)
    with pytest.raises(CodecError):
        rotate_key_file(path)


async def test_a_codec_with_reload_picks_up_a_rotated_key_file(tmp_path: Path) -> None:
    path = tmp_path / KEY_FILE_NAME
    rotate_key_file(path)
    running = EncryptionCodec(read_key_file(path), reload=lambda: read_key_file(path))
    rotate_key_file(path)
    [sealed] = await EncryptionCodec(read_key_file(path)).encode(
        [Payload(metadata={"encoding": b"json/plain"}, data=b'"y"')]
    )
    [plain] = await running.decode([sealed])
    assert plain.data == b'"y"'
