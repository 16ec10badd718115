"""Inbox sessions and login throttling in the store, on SQLite and PostgreSQL: a session ends
at logout and at its absolute expiry, whatever cookie is presented; failed sign-ins counted
across gateway replicas lock the account and the address, and the lock lifts in time."""

from __future__ import annotations

import threading

from store import Store
from store.sessions import LoginThrottle, Sessions

NOW = 1_800_000_000.0


def test_a_session_ends_at_logout_and_at_its_absolute_expiry(store: Store) -> None:
    sessions = Sessions(store, lifetime=3600)
    token = sessions.open("alice", "fp-1", NOW)
    found = sessions.find(token, NOW + 10)
    assert found is not None and (found.username, found.password_fingerprint) == ("alice", "fp-1")
    assert sessions.find(token, NOW + 3600) is None  # absolute: no use extends it
    assert sessions.find("a-forged-token", NOW) is None
    other = sessions.open("alice", "fp-1", NOW)
    sessions.close(other)
    assert sessions.find(other, NOW + 1) is None  # a copied cookie dies with the logout
    assert sessions.find(token, NOW + 1) is not None
    assert sessions.close_all("alice") == 1 and sessions.find(token, NOW + 1) is None


def test_failed_sign_ins_lock_a_key_and_the_lock_lifts(store: Store) -> None:
    throttle = LoginThrottle(store, limit=3, window=60, lockout=300)
    keys = ["user:alice", "addr:10.0.0.9"]
    for second in range(2):
        throttle.failed(keys, NOW + second)
    assert throttle.locked_for(keys, NOW + 2) == 0
    throttle.failed(keys, NOW + 2)
    assert throttle.locked_for(["user:alice"], NOW + 3) == 299
    assert throttle.locked_for(["addr:10.0.0.9"], NOW + 3) == 299
    assert throttle.locked_for(["user:bob"], NOW + 3) == 0
    assert throttle.locked_for(keys, NOW + 303) == 0
    # Failures spread wider than the window never add up to a lock.
    for minute in range(5):
        throttle.failed(["user:carol"], NOW + 1000 + 61 * minute)
    assert throttle.locked_for(["user:carol"], NOW + 1400) == 0
    throttle.succeeded("user:alice")


def test_failures_from_two_replicas_at_once_all_count(store: Store, database_url: str) -> None:
    # Two gateways (two stores on one database) failing the same account at the same moment.
    replicas = [LoginThrottle(database_url, limit=10, window=60, lockout=300) for _ in range(2)]
    start = threading.Barrier(2)

    def fail_five(throttle: LoginThrottle) -> None:
        start.wait()
        for _ in range(5):
            throttle.failed(["user:dave"], NOW)

    threads = [threading.Thread(target=fail_five, args=(t,)) for t in replicas]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    try:
        assert replicas[0].locked_for(["user:dave"], NOW + 1) == 299  # all ten counted
    finally:
        for throttle in replicas:
            throttle.store.close()
