"""Repair plans are signed with the installation's key: a changed, foreign, expired or malformed
plan is refused in one line naming why, and the key file is made once, 0600, never printed."""

from __future__ import annotations

import base64
import json
import os
import stat
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from continuum.incidents.key import KEY_FILE_NAME, IncidentKeyError, incident_key
from continuum.incidents.plans import (
    NotAPlan,
    PlanError,
    PlanExpired,
    PlanTampered,
    load_plan,
    read_plan,
    sign_plan,
    verify_plan,
    write_plan,
)
from domain.incidents.contract import KEY_ENV, Action, Plan, PlanItem, Target

NOW = datetime(2026, 12, 6, 9, 0, 0, 123456, tzinfo=UTC)
KEY = b"k" * 32


def plan(**changes: object) -> Plan:
    item = PlanItem(
        target=Target(
            workflow_id="order-O-1",
            run_id="run-1",
            workflow_type="OrderToCash",
            status="Checking",
            state_since=NOW - timedelta(minutes=20),
            step="check_credit",
            attempt=9,
            last_failure="ERP unavailable (503) — Retry-After 1",
        ),
        what="run check_credit now (attempt 9)",
    )
    fields: dict[str, object] = {
        "plan_id": "20261206-090000-abc123",
        "action": Action.RETRY,
        "where": "type=order retrying",
        "query": "WorkflowType = 'OrderToCash' AND ExecutionStatus = 'Running'",
        "items": [item],
        "operator": "olga",
        "reason": "ERP back after the outage",
        "ticket": "INC-42",
        "created_at": NOW,
    }
    return Plan.model_validate({**fields, **changes})


def written(tmp_path: Path, p: Plan, key: bytes = KEY) -> Path:
    return write_plan(sign_plan(p, key), tmp_path / "plan.json")


def test_a_written_plan_reads_back_verified_and_whole(tmp_path: Path) -> None:
    path = written(tmp_path, plan())
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    loaded = load_plan(path, KEY, NOW + timedelta(minutes=59))
    assert loaded == sign_plan(plan(), KEY)
    # The object form (what the repair client holds) verifies under the same signature.
    assert verify_plan(loaded, KEY, NOW) == loaded


@pytest.mark.parametrize(
    "tamper",
    [
        lambda d: d["items"].pop(),  # an item dropped
        lambda d: d["items"].append(dict(d["items"][0])),  # an item added
        lambda d: d["items"][0]["target"].update(workflow_id="order-O-2"),  # another process
        lambda d: d.update(action="terminate"),  # another action
        lambda d: d.update(valid_for="P30D"),  # a longer life
        lambda d: d.update(operator="mallory"),
        lambda d: d.update(signature="0" * 64),
        lambda d: d.update(created_at="2026-12-06T09:00:00.123456+00:00"),  # same moment, rewritten
    ],
)
def test_a_changed_plan_is_refused(tmp_path: Path, tamper: object) -> None:
    path = written(tmp_path, plan())
    document = json.loads(path.read_text())
    tamper(document)  # type: ignore[operator]
    path.write_text(json.dumps(document))
    with pytest.raises(PlanTampered, match="changed after it was signed"):
        load_plan(path, KEY, NOW)


def test_reformatting_a_plan_is_no_change(tmp_path: Path) -> None:
    path = written(tmp_path, plan())
    document = json.loads(path.read_text())
    path.write_text(json.dumps(dict(reversed(document.items())), indent=None))
    assert load_plan(path, KEY, NOW).plan_id == "20261206-090000-abc123"


def test_unsigned_foreign_and_extended_plans_are_refused(tmp_path: Path) -> None:
    path = written(tmp_path, plan(), key=b"another installation's key!!!!!!")
    with pytest.raises(PlanTampered, match="signed under another key"):
        load_plan(path, KEY, NOW)
    with pytest.raises(PlanTampered, match="is not signed"):
        read_plan(plan().model_dump_json(), KEY, NOW)
    document = json.loads(written(tmp_path, plan()).read_text())
    document["also_do"] = "terminate everything"
    with pytest.raises(PlanTampered, match=r"fields no plan has \(also_do\)"):
        read_plan(json.dumps(document), KEY, NOW)
    with pytest.raises(PlanTampered):
        verify_plan(plan(operator="mallory", signature=sign_plan(plan(), KEY).signature), KEY, NOW)


def test_an_expired_or_future_plan_is_refused(tmp_path: Path) -> None:
    path = written(tmp_path, plan(valid_for=timedelta(minutes=30)))
    with pytest.raises(
        PlanExpired, match=r"expired at 2026-12-06 09:30:00 UTC \(valid for 0:30:00\)"
    ):
        load_plan(path, KEY, NOW + timedelta(minutes=31))
    future = written(tmp_path, plan(created_at=NOW + timedelta(hours=2)))
    with pytest.raises(PlanExpired, match="made in the future"):
        load_plan(future, KEY, NOW)


@pytest.mark.parametrize(
    ("content", "says"),
    [
        ('{"plan_id": ', "is not a plan: not JSON (line 1 column 13)"),
        (b"\xff\xfe", "is not a plan: not JSON (line 1 column 1)"),
        ("[1, 2]", 'is not a plan: no "format": "continuum-incident-plan/1"'),
        (
            '{"order_id": "O-1", "lines": []}',
            'is not a plan: no "format": "continuum-incident-plan/1"',
        ),
        (
            '{"format": "continuum-incident-plan/1", "plan_id": "p"}',
            "is not a valid plan: action: Field required",
        ),
    ],
)
def test_a_file_that_is_not_a_plan_is_named(
    tmp_path: Path, content: str | bytes, says: str
) -> None:
    path = tmp_path / "order.json"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(NotAPlan) as refused:
        load_plan(path, KEY, NOW)
    assert str(refused.value) == f"{path} {says}"
    with pytest.raises(PlanError, match="no plan file"):
        load_plan(tmp_path / "missing.json", KEY, NOW)
    with pytest.raises(NotAPlan, match="is a directory"):
        load_plan(tmp_path, KEY, NOW)


def test_the_key_file_is_made_once_0600_and_found_again(tmp_path: Path) -> None:
    env = {"CONTINUUM_DATA_DIR": str(tmp_path / "data")}
    with pytest.raises(IncidentKeyError, match="no incident key"):
        incident_key(env)  # the verifier makes none
    keys: list[bytes] = []
    threads = [
        threading.Thread(target=lambda: keys.append(incident_key(env, create=True)))
        for _ in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    path = tmp_path / "data" / KEY_FILE_NAME
    assert len(set(keys)) == 1 and len(keys[0]) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert incident_key(env) == keys[0]
    assert sorted(os.listdir(path.parent)) == [KEY_FILE_NAME]  # no temporary file left
    path.chmod(0o644)
    with pytest.raises(IncidentKeyError, match="readable by others"):
        incident_key(env)


def test_the_key_from_the_environment_wins_and_is_never_echoed(tmp_path: Path) -> None:
    key = base64.b64encode(b"e" * 40).decode()
    assert incident_key({KEY_ENV: key, "CONTINUUM_DATA_DIR": str(tmp_path)}) == b"e" * 40
    for bad in ("not base64 !!!", base64.b64encode(b"short").decode()):
        with pytest.raises(IncidentKeyError) as refused:
            incident_key({KEY_ENV: bad})
        assert bad not in str(refused.value) and KEY_ENV in str(refused.value)


@pytest.mark.parametrize("rate", ["NaN", "Infinity", 0, 1000])
def test_a_rate_the_job_cannot_keep_is_no_plan(tmp_path: Path, rate: object) -> None:
    """The job's timers come from the rate: NaN or infinity would fail its workflow task forever."""
    document = json.loads(written(tmp_path, plan()).read_text())
    document["rate_per_second"] = rate
    with pytest.raises(NotAPlan, match="rate_per_second"):
        read_plan(json.dumps(document), KEY, NOW)
