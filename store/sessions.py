"""Inbox sessions and login throttling, in the store so that every gateway replica shares them.

A session is a row: the cookie holds a random token, the row its SHA-256, the user, the password
fingerprint at sign-in and an absolute expiry. Logging out deletes the row (a copied cookie dies
with it); a password change or a removal from the users file ends the session on its next use.

Throttling counts failed sign-ins per key (the user name, the client's address) in a window; at
the limit the key is locked for a while and sign-ins are refused without checking a password.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import case, delete, select, update

from store.database import Store
from store.schema import inbox_sessions, login_failures

SESSION_SECONDS = 8 * 3600  # a working day, however active


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Session:
    username: str
    password_fingerprint: str
    expires_at: float


class Sessions:
    def __init__(self, store: Store | str | Path, lifetime: float = SESSION_SECONDS) -> None:
        self.store = store if isinstance(store, Store) else Store(store)
        self.lifetime = lifetime

    def open(self, username: str, password_fingerprint: str, now: float) -> str:
        """A new session; returns its token (for the cookie, never stored as such)."""
        token = secrets.token_urlsafe(32)
        with self.store.write() as db:
            db.execute(
                inbox_sessions.insert().values(
                    token_hash=_hash(token),
                    username=username,
                    password_fingerprint=password_fingerprint,
                    created_at=now,
                    expires_at=now + self.lifetime,
                )
            )
            # Housekeeping: expired sessions of anyone go when someone signs in.
            db.execute(delete(inbox_sessions).where(inbox_sessions.c.expires_at <= now))
        return token

    def find(self, token: str, now: float) -> Session | None:
        s = inbox_sessions
        with self.store.read() as db:
            row = db.execute(
                select(s.c.username, s.c.password_fingerprint, s.c.expires_at).where(
                    s.c.token_hash == _hash(token), s.c.expires_at > now
                )
            ).one_or_none()
        return Session(*row) if row is not None else None

    def close(self, token: str) -> None:
        with self.store.write() as db:
            db.execute(delete(inbox_sessions).where(inbox_sessions.c.token_hash == _hash(token)))

    def close_all(self, username: str) -> int:
        with self.store.write() as db:
            done = db.execute(delete(inbox_sessions).where(inbox_sessions.c.username == username))
        return done.rowcount


class LoginThrottle:
    """`limit` failures within `window` seconds lock a key for `lockout` seconds."""

    def __init__(
        self,
        store: Store | str | Path,
        limit: int = 5,
        window: float = 900.0,
        lockout: float = 900.0,
    ) -> None:
        self.store = store if isinstance(store, Store) else Store(store)
        self.limit, self.window, self.lockout = limit, window, lockout

    def locked_for(self, keys: Sequence[str], now: float) -> float:
        """Seconds until every key may try again (0: none is locked)."""
        f = login_failures
        with self.store.read() as db:
            until = db.execute(
                select(f.c.locked_until).where(f.c.key.in_(keys), f.c.locked_until > now)
            ).scalars()
            return max((u - now for u in until if u is not None), default=0.0)

    def failed(self, keys: Sequence[str], now: float) -> None:
        f = login_failures
        with self.store.write() as db:
            for key in keys:
                db.execute(
                    self.store.insert(f)
                    .values(key=key, failures=0, window_start=now)
                    .on_conflict_do_nothing(index_elements=[f.c.key])
                )
                # One statement per key: concurrent failures on two replicas both count.
                stale = f.c.window_start <= now - self.window
                db.execute(
                    update(f)
                    .where(f.c.key == key)
                    .values(
                        failures=case((stale, 1), else_=f.c.failures + 1),
                        window_start=case((stale, now), else_=f.c.window_start),
                    )
                )
                db.execute(
                    update(f)
                    .where(f.c.key == key, f.c.failures >= self.limit)
                    .values(locked_until=now + self.lockout, failures=0, window_start=now)
                )

    def succeeded(self, key: str) -> None:
        with self.store.write() as db:
            db.execute(delete(login_failures).where(login_failures.c.key == key))
