"""Who may sign in to the inbox: the approvals directory (names, roles) and the password hashes.

The directory is the approval policy's `people` (shipped: continuum/defaults/approvals.toml);
the hashes are the users file (continuum.passwords). A person needs both to sign in.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import anyio.to_thread

from continuum.passwords import check_password, load_users
from domain.approvals.models import Person

log = logging.getLogger("services.gateway.people")


# scrypt is slow on purpose: at most two at a time, on threads of their own, so that a flood of
# sign-ins queues here and never takes the threads the webhooks' receipts run on.
_SCRYPT_THREADS = 2


class People:
    def __init__(self, directory: dict[str, Person], users_file: Path | None) -> None:
        self.directory = directory
        self.users_file = users_file
        self._read_at: float | None = None
        self.hashes: dict[str, str] = {}
        self._limiter: anyio.CapacityLimiter | None = None
        self._fresh()
        if not self.hashes:
            log.warning("no inbox users file (INBOX_USERS_FILE): nobody can sign in")
        if strangers := sorted(set(self.hashes) - set(directory)):
            log.warning("users not in the approvals directory cannot sign in: %s", strangers)

    @property
    def can_sign_in(self) -> bool:
        return bool(self.hashes)

    def _fresh(self) -> None:
        """Re-reads the users file when it changed: a new password or a removed user takes
        effect at once, also for sessions already open (see `fingerprint`)."""
        if self.users_file is None:
            return
        try:
            changed = self.users_file.stat().st_mtime
        except OSError:
            changed = None
        if changed != self._read_at:
            self._read_at = changed
            self.hashes = load_users(self.users_file) if changed is not None else {}

    def fingerprint(self, username: str) -> str | None:
        """Stands for the user's current password (a digest of its hash); None: no password."""
        self._fresh()
        stored = self.hashes.get(username) if username in self.directory else None
        return hashlib.sha256(stored.encode()).hexdigest() if stored else None

    async def authenticate(self, username: str, password: str) -> str | None:
        """The username when the password is right and the person is in the directory."""
        self._fresh()
        known = username in self.directory
        stored = self.hashes.get(username) if known else None
        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(_SCRYPT_THREADS)
        # scrypt costs tens of milliseconds: off the event loop, and as long for strangers.
        ok = await anyio.to_thread.run_sync(check_password, password, stored, limiter=self._limiter)
        return username if ok else None

    def person(self, username: str) -> Person | None:
        return self.directory.get(username)
