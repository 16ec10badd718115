"""The operations role in the shipped approvals directory: who sees and acts on alerts."""

from __future__ import annotations

from continuum.approvals.config import load_approval_policy
from domain.approvals.models import Person
from domain.operations import OPERATIONS_ROLE, is_operator, operators


def test_the_shipped_directory_has_operators_and_only_they_hold_the_role() -> None:
    people = load_approval_policy().people
    assert operators(people) == ["olga", "oscar"]
    assert not is_operator(people["alice"]) and not is_operator(None)


def test_the_role_may_sit_beside_others() -> None:
    both = Person(name="Dana Dual", roles=["finance", OPERATIONS_ROLE])
    assert operators({"dana": both, "bob": Person(name="Bob", roles=["finance"])}) == ["dana"]
