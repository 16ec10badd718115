"""The configuration Continuum ships with (approval and purchasing policies, webhook mapping),
found through `importlib.resources` so that an installed wheel finds it as a checkout does; a
configured path (APPROVAL_CONFIG_FILE, PURCHASING_CONFIG_FILE, the gateway's --events) always
wins."""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def shipped(name: str) -> Path:
    """The shipped file `name` (installed packages are plain files, never zipped, here)."""
    return Path(str(resources.files(__package__) / name))


APPROVALS = shipped("approvals.toml")
PURCHASING = shipped("purchasing.toml")
WEBHOOKS = shipped("webhooks.toml")
BOARD = shipped("board.toml")
WATCHDOG = shipped("watchdog.toml")
