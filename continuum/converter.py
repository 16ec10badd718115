"""The one data converter used by client, worker and replayer: pydantic models as JSON,
encrypted by `continuum.codec` when keys are configured.

The worker's converter is strict whenever keys are configured (`CONTINUUM_CODEC_STRICT=0`
turns that off, e.g. while workflows started before encryption still run): a workflow input,
signal or update that was not encrypted with the installation's key is refused, so that only a
holder of the key can drive a process. The SDK then fails that start, drops that signal (with
a log line) and rejects that update; the running workflow goes on untouched.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from typing import Any

from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import PydanticPayloadConverter, pydantic_data_converter
from temporalio.converter import DataConverter, DefaultFailureConverterWithEncodedAttributes
from temporalio.exceptions import ApplicationError

from continuum.codec import UNENCRYPTED, EncryptionCodec, Keyring, load_keyring

STRICT_ENV = "CONTINUUM_CODEC_STRICT"


class StrictPayloadConverter(PydanticPayloadConverter):
    """Refuses a payload that the strict codec marked as having arrived unencrypted."""

    def from_payloads(
        self, payloads: Sequence[Payload], type_hints: list[type] | None = None
    ) -> list[Any]:
        if any(UNENCRYPTED in p.metadata for p in payloads):
            # A FailureError: the SDK fails a start with it, drops a signal, rejects an update.
            raise ApplicationError(
                "refused an unencrypted payload: this worker accepts only inputs, signals and "
                "updates encrypted with the installation's codec key (strict codec mode)",
                type="UnencryptedPayload",
                non_retryable=True,
            )
        return super().from_payloads(payloads, type_hints)


def strict_by_default(keyring: Keyring) -> bool:
    """Strict whenever keys are configured, unless CONTINUUM_CODEC_STRICT=0."""
    return bool(keyring.keys) and os.environ.get(STRICT_ENV, "1").strip() not in {"0", "false"}


def data_converter(keyring: Keyring | None = None, *, strict: bool = False) -> DataConverter:
    """`keyring`, else the one the environment names; without keys, payloads stay plaintext
    (and an encrypted one fails to decode with a message naming the missing setting).
    `strict`: refuse unencrypted payloads (the worker's converter, see above)."""
    keys = keyring if keyring is not None else load_keyring()
    strict = strict and bool(keys.keys)
    codec = EncryptionCodec(
        keys, reload=None if keyring is not None else load_keyring, strict=strict
    )
    base = dataclasses.replace(pydantic_data_converter, payload_codec=codec)
    if strict:
        base = dataclasses.replace(base, payload_converter_class=StrictPayloadConverter)
    if not keys.keys:
        return base
    # Failure messages and stack traces can quote personal data (an invalid e-mail address):
    # with encryption on they travel as encoded attributes, through the codec too.
    return dataclasses.replace(
        base, failure_converter_class=DefaultFailureConverterWithEncodedAttributes
    )


def worker_data_converter() -> DataConverter:
    """The worker's: strict whenever keys are configured (see the module's docstring)."""
    keys = load_keyring()
    return data_converter(keys, strict=strict_by_default(keys))


def plaintext_data_converter() -> DataConverter:
    """No codec: for recording the replay histories in tests/histories, which CI replays keyless."""
    return pydantic_data_converter
