"""One logging set-up for every process, plain text to stderr, secrets and personal data masked."""

from __future__ import annotations

import logging
import os

from continuum.redaction import install_redaction


def setup_logging(level: str | None = None) -> None:
    install_redaction()
    logging.basicConfig(
        level=(level or os.environ.get("LOG_LEVEL", "INFO")).upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # httpx logs every request URL at INFO; keep it for debugging only.
    logging.getLogger("httpx").setLevel(logging.WARNING)
