"""The installation's incident key: what signs repair plans, so that a plan changed after it was
made (or made elsewhere) is refused. A plain hash would not do: anyone could recompute it.

From `CONTINUUM_INCIDENT_KEY` (base64 of at least 32 bytes), else the 0600 file
`<CONTINUUM_DATA_DIR or .data>/incident-key` beside the codec keys, made on first use by
whoever plans first. The key is never printed or logged.
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
import stat
from collections.abc import Mapping
from pathlib import Path

from domain.incidents.contract import KEY_ENV

KEY_FILE_NAME = "incident-key"
KEY_BYTES = 32


class IncidentKeyError(ValueError):
    """The key is missing or unusable; the message is one line and never holds the key."""


def key_file(env: Mapping[str, str]) -> Path:
    return Path(env.get("CONTINUUM_DATA_DIR") or ".data") / KEY_FILE_NAME


def _decode(text: str, where: str) -> bytes:
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise IncidentKeyError(f"{where} is not base64") from None
    if len(key) < KEY_BYTES:
        raise IncidentKeyError(f"{where} holds {len(key)} bytes; it needs at least {KEY_BYTES}")
    return key


def _read(path: Path) -> bytes:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise IncidentKeyError(
            f"incident key file {path} is readable by others (mode {mode:o}): chmod 600 it"
        )
    return _decode(path.read_text(), f"incident key file {path}")


def _create(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode() + "\n")
    try:
        # A hard link appears whole or not at all, and never replaces a key: two processes
        # planning at once make one key, and the other reads it.
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        tmp.unlink()


def incident_key(env: Mapping[str, str] | None = None, *, create: bool = False) -> bytes:
    """The key; `create`: make the key file when there is none (the planner does, the verifier
    does not: without a key no plan can have been signed here)."""
    env = os.environ if env is None else env
    if env.get(KEY_ENV, "").strip():
        return _decode(env[KEY_ENV], KEY_ENV)
    path = key_file(env)
    if not path.exists():
        if not create:
            raise IncidentKeyError(
                f"no incident key: set {KEY_ENV} or plan first (which makes {path})"
            )
        _create(path)
    try:
        return _read(path)
    except OSError as err:
        raise IncidentKeyError(
            f"incident key file {path} is not readable: {err.strerror}"
        ) from None
