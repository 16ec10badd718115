"""Repair plans as files: signed when written, verified before anything is applied.

The signature is HMAC-SHA256 under the installation's incident key (`continuum.incidents.key`)
over the plan's canonical JSON without its `signature` field (keys sorted, no spaces, UTF-8).
A plan is refused when it is not a plan, was changed after it was signed (or signed under
another key), or is older than its validity. Every refusal is one line that says which.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from domain.incidents.contract import PLAN_FORMAT, Plan

# A plan stamped further ahead than this was made on a clock that is wrong, or forged.
CLOCK_SKEW = timedelta(minutes=5)
# Plan files are small; anything bigger is not one (and is not read whole).
MAX_PLAN_BYTES = 16 * 1024 * 1024
_FIELDS = frozenset(Plan.model_fields)


class PlanError(ValueError):
    """A plan cannot be used; the message is one line naming the plan and why."""


class NotAPlan(PlanError):
    pass


class PlanTampered(PlanError):
    pass


class PlanExpired(PlanError):
    pass


def new_plan_id(now: datetime) -> str:
    """Sortable by time, unique, and safe inside a workflow id (`repair-<plan id>`)."""
    return f"{now:%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"


def _canonical(document: dict[str, Any]) -> bytes:
    body = {k: v for k, v in document.items() if k != "signature"}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _mac(document: dict[str, Any], key: bytes) -> str:
    return hmac.new(key, _canonical(document), hashlib.sha256).hexdigest()


def sign_plan(plan: Plan, key: bytes) -> Plan:
    """The plan with its signature; what is signed is exactly what `plan_json` writes."""
    return plan.model_copy(update={"signature": _mac(plan.model_dump(mode="json"), key)})


def plan_json(plan: Plan) -> str:
    return plan.model_dump_json(indent=2) + "\n"


def write_plan(plan: Plan, path: Path) -> Path:
    """Writes a signed plan (refuses an unsigned one); never replaces a file half-written."""
    if not plan.signature:
        raise PlanError(f"plan {plan.plan_id} is not signed")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(plan_json(plan))
    tmp.replace(path)
    return path


def _check_signature(document: dict[str, Any], key: bytes, name: str) -> None:
    signature = document.get("signature")
    if not isinstance(signature, str) or not signature:
        raise PlanTampered(f"{name} is not signed: plan it again with `continuum incidents plan`")
    if not hmac.compare_digest(signature.encode(), _mac(document, key).encode()):
        raise PlanTampered(
            f"{name} was changed after it was signed (or signed under another key): refused"
        )


def _check_validity(plan: Plan, now: datetime, name: str) -> None:
    if plan.created_at > now + CLOCK_SKEW:
        raise PlanExpired(f"{name} was made in the future ({plan.created_at:%Y-%m-%d %H:%M} UTC)")
    ends = plan.created_at + plan.valid_for
    if now > ends:
        raise PlanExpired(
            f"{name} expired at {ends:%Y-%m-%d %H:%M:%S} UTC (valid for {plan.valid_for}):"
            " plan it again, the processes may have moved"
        )


def verify_plan(plan: Plan, key: bytes, now: datetime) -> Plan:
    """The plan, if its signature holds under `key` and it is still valid at `now`."""
    name = f"plan {plan.plan_id}"
    _check_signature(plan.model_dump(mode="json"), key, name)
    _check_validity(plan, now, name)
    return plan


def _first_problem(err: ValidationError) -> str:
    first = err.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or "the plan"
    return f"{where}: {first['msg']}"


def read_plan(text: str | bytes, key: bytes, now: datetime, source: str = "the plan") -> Plan:
    """The verified plan in `text` (a plan file's content); `source` names it in refusals."""
    try:
        document = json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        where = (
            f" (line {err.lineno} column {err.colno})"
            if isinstance(err, json.JSONDecodeError)
            else ""
        )
        raise NotAPlan(f"{source} is not a plan: not JSON{where}") from None
    if not isinstance(document, dict) or document.get("format") != PLAN_FORMAT:
        raise NotAPlan(f'{source} is not a plan: no "format": "{PLAN_FORMAT}"')
    if unknown := sorted(set(document) - _FIELDS):
        raise PlanTampered(f"{source} has fields no plan has ({', '.join(unknown)}): refused")
    try:
        plan = Plan.model_validate(document)
    except ValidationError as err:
        raise NotAPlan(f"{source} is not a valid plan: {_first_problem(err)}") from None
    # The bytes as written are what was signed: a value that parses the same but reads
    # differently (a reformatted date, a changed default) is a change too.
    _check_signature(document, key, source)
    _check_validity(plan, now, source)
    return plan


def load_plan(path: Path, key: bytes, now: datetime) -> Plan:
    try:
        size = path.stat().st_size
        if size > MAX_PLAN_BYTES:
            raise NotAPlan(f"{path} is not a plan: {size} bytes (plans are at most 16 MiB)")
        text = path.read_bytes()
    except FileNotFoundError:
        raise PlanError(f"no plan file {path}") from None
    except IsADirectoryError:
        raise NotAPlan(f"{path} is not a plan: it is a directory") from None
    except OSError as err:
        raise PlanError(f"cannot read {path}: {err.strerror}") from None
    return read_plan(text, key, now, source=str(path))
