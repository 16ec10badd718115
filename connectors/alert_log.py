"""Writes alerts as JSON lines to a file: where alerts go when no receiver is configured.

One line per notice, written in a single append (lines of concurrent deliveries never mix); a
retried delivery may write its line twice, and the idempotency key on it says so.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def append(path: Path, record: dict[str, Any]) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps(record, separators=(",", ":"), sort_keys=True) + "\n"
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)
    return f"written to {path}"
