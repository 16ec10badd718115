"""Logs never carry secrets or personal data: every log record is masked where it is made.

Masked: the values of secret environment variables (tokens, API keys, passwords, the codec
keys) and of registered secrets, bearer/basic credentials, `token=`/`api_key:`-style pairs,
e-mail addresses, and quoted `email`/`street`/`address`/`phone` fields (JSON, dicts, reprs).
It runs in the record factory, so it covers every logger and handler of the process,
uvicorn's and the Temporal SDK's too, and exceptions and stack traces as well as messages.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import threading
from collections.abc import Callable, Iterable
from typing import Any

from pydantic import SecretStr

from continuum.codec import CodecError, load_keyring
from continuum.settings import get_settings

MASK = "<redacted>"
EMAIL_MASK = "<email>"
# Shorter values are not masked: they would blank out ordinary words and numbers.
MIN_SECRET_LENGTH = 8
# Loggers whose formatter unpacks the arguments: they are masked one by one instead.
KEEPS_ARGUMENTS = frozenset({"uvicorn.access"})
SECRET_NAME = re.compile(r"(TOKEN|API_KEY|APIKEY|PASSWORD|SECRET|CODEC_KEYS|PRIVATE_KEY)", re.I)

_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
_CREDENTIAL = re.compile(r"(?i)\b(bearer|basic)(\s+)[A-Za-z0-9\-._~+/]+=*")
_SECRET_PAIR = re.compile(
    r"(?i)(\b[\w-]*(?:token|api[_-]?key|apikey|password|passwd|secret|codec[_-]keys)"
    r"[\"']?\s*[=:]\s*)([\"']?)(?!<redacted>)([^\s\"',;&}]+)"
)
# Each pattern below matches only text holding one of these (lower-cased ASCII) or an "@":
# _CREDENTIAL bearer/basic; _SECRET_PAIR token, api_key/api-key/apikey, password, passwd, secret,
# codec(_keys); _PERSONAL_FIELD (e-)mail, street, address, phone; _EMAIL "@".
_NEEDED = (
    "bearer",
    "basic",
    "token",
    "api_key",
    "api-key",
    "apikey",
    "password",
    "passwd",
    "secret",
    "codec",
    "mail",
    "street",
    "address",
    "phone",
)
_PERSONAL_FIELD = re.compile(
    r"(?i)(\b(?:\w+_)?(?:email|e-mail|street|address|phone)[\"']?\s*[=:]\s*)"
    r"([\"'])((?:\\.|(?!\2).)*)\2"
)


class Redactor:
    """Masks secrets and personal data in text; `secrets` are exact values to mask."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._lock = threading.Lock()
        self._secrets: set[str] = set()
        self.add(secrets)

    def add(self, secrets: Iterable[str]) -> None:
        with self._lock:
            self._secrets.update(s for s in secrets if len(s) >= MIN_SECRET_LENGTH)
            # Longest first, so a secret containing another is masked whole.
            self._ordered = sorted(self._secrets, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._ordered:
            if secret in text:
                text = text.replace(secret, MASK)
        if not could_match(text):
            return text
        return mask_patterns(text)


def could_match(text: str) -> bool:
    """False only when none of the patterns can match: ASCII text holding no "@" and none of
    the words each pattern needs (most log text: request lines, paths, statuses, ids). The
    patterns ignore case, and Unicode has letters that match ASCII ones only then ("ſ", "K",
    "ı"), so any other text is always checked in full."""
    if not text.isascii() or "@" in text:
        return True
    lowered = text.lower()
    return any(word in lowered for word in _NEEDED)


def mask_patterns(text: str) -> str:
    """Credentials, secret-looking pairs, personal fields and e-mail addresses masked."""
    text = _CREDENTIAL.sub(rf"\1\2{MASK}", text)
    text = _SECRET_PAIR.sub(rf"\1\2{MASK}", text)
    text = _PERSONAL_FIELD.sub(rf"\1\2{MASK}\2", text)
    return _EMAIL.sub(EMAIL_MASK, text)


def environment_secrets(env: dict[str, str] | None = None) -> list[str]:
    """Values of variables named like secrets, and each key of an inline codec keyring."""
    env = dict(os.environ) if env is None else env
    found = [value for name, value in env.items() if SECRET_NAME.search(name) and value]
    for item in env.get("CONTINUUM_CODEC_KEYS", "").split(","):
        found.append(item.partition(":")[2].strip())
    return found


def _configured_secrets() -> list[str]:
    """The codec keys from their file and the settings' `SecretStr`s (also from `.env`)."""
    found: list[str] = []
    with contextlib.suppress(CodecError):  # the process that needs the keys reports it itself
        found += load_keyring().secrets()
    try:
        settings = get_settings()
    except ValueError:
        return found  # invalid settings: the process reports them when it reads them
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        if isinstance(value, SecretStr):
            found.append(value.get_secret_value())
    return found


class _Masked:
    """Stands in for a log argument: formats (with %s or %r) as the original, masked."""

    def __init__(self, value: object, redact: Redactor) -> None:
        self.value = value
        self.redact = redact

    def __str__(self) -> str:
        return self.redact(str(self.value))

    def __repr__(self) -> str:
        return self.redact(repr(self.value))


class RedactingFilter(logging.Filter):
    """Masks a record in place; never drops one."""

    def __init__(self, redact: Redactor) -> None:
        super().__init__()
        self.redact = redact

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args and record.name not in KEEPS_ARGUMENTS:
            # Masked as one text: `api_key=%s` only shows what is secret once formatted.
            try:
                message = record.getMessage()
            except (TypeError, ValueError):
                message = None  # a broken format string: logging reports it when emitting
            if message is not None:
                record.msg, record.args = self.redact(message), ()
        if isinstance(record.msg, str):
            record.msg = self.redact(record.msg)
        elif not record.args:
            record.msg = self.redact(str(record.msg))  # e.g. a model logged as the message
        if isinstance(record.args, dict):
            record.args = {k: self._arg(v) for k, v in record.args.items()}
        elif record.args:
            record.args = tuple(self._arg(a) for a in record.args)
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True

    def _arg(self, value: object) -> object:
        if value is None or isinstance(value, bool | int | float):
            return value
        if isinstance(value, str):
            return self.redact(value)
        return _Masked(value, self.redact)


_installed: RedactingFilter | None = None


def install_redaction(extra_secrets: Iterable[str] = ()) -> RedactingFilter:
    """Masks every log record this process makes from now on (idempotent; adds secrets)."""
    global _installed
    if _installed is None:
        _installed = RedactingFilter(Redactor([*environment_secrets(), *_configured_secrets()]))
        make: Callable[..., logging.LogRecord] = logging.getLogRecordFactory()
        redact = _installed

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = make(*args, **kwargs)
            redact.filter(record)
            return record

        logging.setLogRecordFactory(factory)
    _installed.redact.add(extra_secrets)
    return _installed
