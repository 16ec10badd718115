"""The approval policy from its configuration file (TOML or JSON); errors name the field."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from continuum.defaults import APPROVALS
from domain.approvals.policy import ApprovalPolicy

DEFAULT_FILE = APPROVALS  # the shipped policy; APPROVAL_CONFIG_FILE names another


class ApprovalConfigError(ValueError):
    """The approval configuration file is missing or wrong; the message says where."""


def load_approval_policy(path: Path = DEFAULT_FILE, **overrides: Any) -> ApprovalPolicy:
    """Reads `path`; `overrides` (e.g. from environment variables) win over the file."""
    try:
        text = path.read_text()
    except OSError as err:
        raise ApprovalConfigError(f"cannot read approval config {path}: {err.strerror}") from None
    try:
        data: dict[str, Any] = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as err:
        raise ApprovalConfigError(f"approval config {path} is not valid: {err}") from None
    data.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return ApprovalPolicy.model_validate(data)
    except ValidationError as err:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(top)'}: {e['msg']}" for e in err.errors()
        )
        raise ApprovalConfigError(f"approval config {path}: {problems}") from None
