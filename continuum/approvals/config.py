"""The approval policy from its configuration file (TOML or JSON); errors name the field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from continuum.config_file import read_config, validate_config
from continuum.defaults import APPROVALS
from domain.approvals.policy import ApprovalPolicy

DEFAULT_FILE = APPROVALS  # the shipped policy; APPROVAL_CONFIG_FILE names another
_WHAT = "approval config"


class ApprovalConfigError(ValueError):
    """The approval configuration file is missing or wrong; the message says where."""


def load_approval_policy(path: Path = DEFAULT_FILE, **overrides: Any) -> ApprovalPolicy:
    """Reads `path`; `overrides` (e.g. from environment variables) win over the file."""
    data = read_config(path, _WHAT, ApprovalConfigError)
    data.update({k: v for k, v in overrides.items() if v is not None})
    return validate_config(ApprovalPolicy, data, path, _WHAT, ApprovalConfigError)
