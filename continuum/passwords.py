"""Password hashes for the approval inbox: scrypt from the standard library, in a 0600 JSON file.

The file (`{"users": {"alice": {"password_hash": "scrypt$..."}}}`) lives outside the repository:
the embedded stack writes one for its demo people, a deployment names its own
(INBOX_USERS_FILE). Who a person is and which roles they hold comes from the approvals
directory, not from here.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
from pathlib import Path

# RFC 7914's interactive parameters: about 16 MiB and tens of milliseconds per check.
_N, _R, _P = 2**14, 8, 1
_DUMMY = "scrypt$16384$8$1$AAAAAAAAAAAAAAAAAAAAAA==$" + "A" * 43 + "="


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    key = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return f"scrypt${_N}${_R}${_P}${_b64(salt)}${_b64(key)}"


def check_password(password: str, stored: str | None) -> bool:
    """True when `password` matches `stored`; an unknown user (None) costs the same time."""
    try:
        scheme, n, r, p, salt, key = (stored or _DUMMY).split("$")
        expected = base64.b64decode(key)
        got = hashlib.scrypt(
            password.encode(),
            salt=base64.b64decode(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=len(expected),
        )
    except ValueError:
        return False
    return scheme == "scrypt" and stored is not None and hmac.compare_digest(got, expected)


def write_users(path: Path, passwords: dict[str, str]) -> None:
    """Hashes of `passwords` (username → password) into `path`, mode 0600, replaced at once."""
    users = {name: {"password_hash": hash_password(pw)} for name, pw in passwords.items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".tmp")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as file:
        json.dump({"users": users}, file, indent=2)
    os.replace(partial, path)


def load_users(path: Path) -> dict[str, str]:
    """username → password hash; a ValueError names what is wrong with the file."""
    try:
        data = json.loads(path.read_text())
        return {name: entry["password_hash"] for name, entry in data["users"].items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
        raise ValueError(f"cannot read the inbox users file {path}: {err!r}") from None
