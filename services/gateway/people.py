"""Who may sign in to the inbox: the approvals directory (names, roles) and the password hashes.

The directory is the approval policy's `people` (shipped: continuum/defaults/approvals.toml);
the hashes are the users file (continuum.passwords). A person needs both to sign in.
"""

from __future__ import annotations

import logging
from pathlib import Path

import anyio.to_thread

from continuum.passwords import check_password, load_users
from domain.approvals.models import Person

log = logging.getLogger("services.gateway.people")


class People:
    def __init__(self, directory: dict[str, Person], users_file: Path | None) -> None:
        self.directory = directory
        self.hashes: dict[str, str] = load_users(users_file) if users_file else {}
        if not self.hashes:
            log.warning("no inbox users file (INBOX_USERS_FILE): nobody can sign in")
        if strangers := sorted(set(self.hashes) - set(directory)):
            log.warning("users not in the approvals directory cannot sign in: %s", strangers)

    @property
    def can_sign_in(self) -> bool:
        return bool(self.hashes)

    async def authenticate(self, username: str, password: str) -> str | None:
        """The username when the password is right and the person is in the directory."""
        known = username in self.directory
        stored = self.hashes.get(username) if known else None
        # scrypt costs tens of milliseconds: off the event loop, and as long for strangers.
        ok = await anyio.to_thread.run_sync(check_password, password, stored)
        return username if ok else None

    def person(self, username: str) -> Person | None:
        return self.directory.get(username)
