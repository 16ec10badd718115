"""The one data converter used by client, worker and replayer: pydantic models as JSON,
encrypted by `continuum.codec` when keys are configured."""

from __future__ import annotations

import dataclasses

from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter, DefaultFailureConverterWithEncodedAttributes

from continuum.codec import EncryptionCodec, Keyring, load_keyring


def data_converter(keyring: Keyring | None = None) -> DataConverter:
    """`keyring`, else the one the environment names; without keys, payloads stay plaintext
    (and an encrypted one fails to decode with a message naming the missing setting)."""
    keys = keyring if keyring is not None else load_keyring()
    codec = EncryptionCodec(keys, reload=None if keyring is not None else load_keyring)
    if not keys.keys:
        return dataclasses.replace(pydantic_data_converter, payload_codec=codec)
    # Failure messages and stack traces can quote personal data (an invalid e-mail address):
    # with encryption on they travel as encoded attributes, through the codec too.
    return dataclasses.replace(
        pydantic_data_converter,
        payload_codec=codec,
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )


def plaintext_data_converter() -> DataConverter:
    """No codec: for recording the replay histories in tests/histories, which CI replays keyless."""
    return pydantic_data_converter
