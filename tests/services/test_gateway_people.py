"""Inbox sign-in rules without a server: password hashes, the users file, safe redirects and the
visibility query that fills the inbox."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from continuum.passwords import check_password, hash_password, load_users, write_users
from domain.approvals.models import Person
from services.gateway.approvals import waiting_query
from services.gateway.inbox import local_path
from services.gateway.people import People


def test_hashes_are_salted_and_only_the_right_password_matches() -> None:
    first, second = hash_password("correct horse"), hash_password("correct horse")
    assert first != second and first.startswith("scrypt$")
    assert "correct horse" not in first
    assert check_password("correct horse", first) and check_password("correct horse", second)
    assert not check_password("correct hors", first)
    assert not check_password("correct horse", None)
    assert not check_password("correct horse", "plain-text")


def test_the_users_file_holds_only_hashes_and_is_private(tmp_path: Path) -> None:
    path = tmp_path / "inbox-users.json"
    write_users(path, {"alice": "pw-alice-123", "bob": "pw-bob-456"})
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "pw-alice-123" not in path.read_text()
    hashes = load_users(path)
    assert set(hashes) == {"alice", "bob"} and check_password("pw-bob-456", hashes["bob"])
    path.write_text(json.dumps({"people": {}}))
    with pytest.raises(ValueError, match="inbox users file"):
        load_users(path)


async def test_sign_in_needs_the_directory_and_the_password(tmp_path: Path) -> None:
    path = tmp_path / "inbox-users.json"
    write_users(path, {"alice": "pw-alice-123", "ghost": "pw-ghost-123"})
    people = People({"alice": Person(name="Alice", roles=["sales_manager"])}, path)
    assert await people.authenticate("alice", "pw-alice-123") == "alice"
    assert await people.authenticate("alice", "pw-ghost-123") is None
    # A hash without a person in the approvals directory does not let anyone in.
    assert await people.authenticate("ghost", "pw-ghost-123") is None
    assert await People({}, None).authenticate("alice", "pw-alice-123") is None


def test_after_sign_in_only_paths_on_this_site_are_followed() -> None:
    assert local_path("/inbox/approval-order-O-1") == "/inbox/approval-order-O-1"
    for elsewhere in ("https://evil.example/", "//evil.example/x", "/\\evil.example", "inbox"):
        assert local_path(elsewhere) == "/inbox"


def test_the_inbox_query_asks_for_the_roles_and_the_person_and_nothing_injected() -> None:
    query = waiting_query("alice", ["sales_manager", "finance"])
    assert "WorkflowType = 'Approval'" in query and "ApprovalStatus = 'Pending'" in query
    assert "ApprovalAssignee = 'alice'" in query
    assert "ApprovalRole IN ('sales_manager', 'finance')" in query
    sneaky = waiting_query("x' OR 'a'='a", ["r' OR '1'='1", "legal"])
    assert "OR 'a'" not in sneaky and "'1'='1" not in sneaky
    assert "ApprovalRole IN ('legal')" in sneaky
    assert waiting_query("x'", []) == ""
