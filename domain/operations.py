"""The operations role: the people who see and act on alerts (and, beside them, incidents).

They are ordinary members of the approvals directory with this role, so one directory says who
may sign in and what each person may do.
"""

from __future__ import annotations

from collections.abc import Mapping

from domain.approvals.models import Person

OPERATIONS_ROLE = "operations"


def is_operator(person: Person | None) -> bool:
    return person is not None and OPERATIONS_ROLE in person.roles


def operators(people: Mapping[str, Person]) -> list[str]:
    """The usernames holding the operations role, sorted."""
    return sorted(name for name, person in people.items() if is_operator(person))
