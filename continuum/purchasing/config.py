"""The purchasing policy from its configuration file (TOML or JSON); errors name the field.

The people directory and the business calendar are the approvals policy's (one directory for
every process), unless the purchasing file sets its own.
"""

from __future__ import annotations

from pathlib import Path

from continuum.config_file import read_config, validate_config
from continuum.defaults import PURCHASING
from domain.approvals.policy import ApprovalPolicy
from domain.purchasing.policy import PurchasingPolicy

DEFAULT_FILE = PURCHASING  # the shipped policy; PURCHASING_CONFIG_FILE names another
_WHAT = "purchasing config"


class PurchasingConfigError(ValueError):
    """The purchasing configuration file is missing or wrong; the message says where."""


def load_purchasing_policy(
    path: Path = DEFAULT_FILE, approvals: ApprovalPolicy | None = None
) -> PurchasingPolicy:
    data = read_config(path, _WHAT, PurchasingConfigError)
    if approvals is not None:
        data.setdefault("people", approvals.people)
        data.setdefault("calendar", approvals.calendar)
    return validate_config(PurchasingPolicy, data, path, _WHAT, PurchasingConfigError)
