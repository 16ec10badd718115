"""Inbox sessions are server-side and sign-ins are throttled (issue 13, items 3 and 4), proved on
a real gateway process: a copied cookie dies at logout, a password change ends open sessions,
and repeated wrong passwords lock the account before any more passwords are checked."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from continuum.passwords import write_users
from continuum.supervisor import ManagedProcess, free_port, http_ok, python_module
from tests.services.test_gateway_service import SECRETS

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A gateway with Temporal out of reach (the inbox's sign-in does not need it)."""
    work = tmp_path_factory.mktemp("inbox")
    users = work / "inbox-users.json"
    write_users(users, {"alice": "alice-password", "bob": "bob-password"})
    port = free_port()
    env = {
        **SECRETS,
        "TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}",
        "GATEWAY_SESSION_SECRET": "session-secret-for-the-test",
        "CONTINUUM_DATABASE_URL": f"sqlite:///{work / 'continuum.db'}",
    }
    argv = python_module("services.gateway", "--port", str(port), "--users", str(users))
    proc = ManagedProcess("gateway", argv, log_path=work / "gateway.log", env=env).start()
    url = f"http://127.0.0.1:{port}"
    try:
        proc.wait_ready(lambda: http_ok(f"{url}/healthz"), timeout=30)
        yield url, users
    finally:
        proc.stop()


def sign_in(url: str, user: str, password: str) -> tuple[httpx.Client, httpx.Response]:
    client = httpx.Client(base_url=url, timeout=30)
    page = client.get("/login")
    token = CSRF.search(page.text)
    assert token, page.text
    answer = client.post(
        "/login",
        data={"csrf_token": token[1], "username": user, "password": password, "next": "/inbox"},
    )
    return client, answer


def signed_in(client: httpx.Client) -> bool:
    answer = client.get("/inbox")
    return answer.status_code == 200 and "Waiting for you" in answer.text


def test_logout_ends_a_copied_cookie(gateway: tuple[str, Path]) -> None:
    url, _ = gateway
    client, answer = sign_in(url, "alice", "alice-password")
    assert answer.status_code == 303 and signed_in(client)
    thief = httpx.Client(base_url=url, cookies=dict(client.cookies), timeout=30)
    assert signed_in(thief)  # the copy works while the session lives
    token = CSRF.search(client.get("/inbox").text)
    assert token
    assert client.post("/logout", data={"csrf_token": token[1]}).status_code == 303
    assert not signed_in(thief)  # ... and not after the logout


def test_a_password_change_ends_open_sessions(gateway: tuple[str, Path]) -> None:
    url, users = gateway
    client, _ = sign_in(url, "bob", "bob-password")
    assert signed_in(client)
    write_users(users, {"alice": "alice-password", "bob": "a-new-password"})
    assert not signed_in(client)
    again, answer = sign_in(url, "bob", "a-new-password")
    assert answer.status_code == 303 and signed_in(again)


def test_repeated_wrong_passwords_lock_the_account(gateway: tuple[str, Path]) -> None:
    url, _ = gateway
    for _ in range(5):
        _, answer = sign_in(url, "alice", "guess")
        assert answer.status_code == 401
    # Locked: refused before the password is even looked at, the right one included.
    _, answer = sign_in(url, "alice", "alice-password")
    assert answer.status_code == 429 and "Too many failed sign-ins" in answer.text


def test_an_oversized_form_is_refused_while_it_streams_in(gateway: tuple[str, Path]) -> None:
    url, _ = gateway
    client = httpx.Client(base_url=url, timeout=30)
    token = CSRF.search(client.get("/login").text)
    assert token
    padding = "x" * (2 << 20)  # 2 MB, far over the inbox's form cap
    form = f"csrf_token={token[1]}&username=alice&password=alice-password&pad={padding}"
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    announced = client.post("/login", content=form.encode(), headers=headers)
    assert announced.status_code == 413, announced.text

    def chunks() -> Iterator[bytes]:  # no Content-Length: the cap must hold on what is read
        data = form.encode()
        for at in range(0, len(data), 64 * 1024):
            yield data[at : at + 64 * 1024]

    streamed = client.post("/login", content=chunks(), headers=headers)
    assert streamed.status_code == 413, streamed.text
    assert client.get("/login").status_code == 200  # and the gateway serves on
