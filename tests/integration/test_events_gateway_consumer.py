"""The gateway process consumes the broker when the events configuration says so: what it cannot
apply becomes a dead letter with the reason, and an event Temporal cannot take (here: no
Temporal at all) is neither acked nor dead-lettered but delivered again."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path

import nats
import pytest
from typer.testing import CliRunner

from continuum.events.broker import ensure_inbound, list_dead_letters
from continuum.events.config import Nats
from continuum.passwords import write_users
from continuum.settings import get_settings
from continuum.supervisor import ManagedProcess, free_port, http_ok, python_module
from services.gateway.signatures import HEADER, sign
from starters.cli import app
from store import Store
from store.incidents import IncidentAudit
from tests.integration.nats_broker import NatsBroker
from tests.security.test_inbox_sessions import CSRF, sign_in

pytestmark = pytest.mark.integration

OLGA = "olga-password-for-the-test"
SECRETS = {
    f"WEBHOOK_SECRET_{name}": f"{name.lower()}-secret"
    for name in ("CARRIER", "SHOP", "PAYMENTS", "SUPPLIER", "WAREHOUSE")
}


@pytest.fixture(scope="module")
def config(nats_broker: NatsBroker) -> Nats:
    return Nats(url=nats_broker.url, embedded=False, ack_wait_seconds=2)


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory, config: Nats) -> Iterator[ManagedProcess]:
    work = tmp_path_factory.mktemp("gateway")
    events = work / "events.toml"
    events.write_text(f'[nats]\nurl = "{config.url}"\nembedded = false\nack_wait_seconds = 2\n')
    port = free_port()
    env = {
        **SECRETS,
        "TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}",  # nothing listens: Temporal is down
        "GATEWAY_SESSION_SECRET": "session-secret-for-the-test",
        "CONTINUUM_DATA_DIR": str(work),
        "EVENTS_CONFIG_FILE": str(events),
    }
    users = work / "inbox-users.json"
    write_users(users, {"olga": OLGA, "alice": "alice-password"})  # operations; sales
    argv = python_module("services.gateway", "--port", str(port), "--users", str(users))
    proc = ManagedProcess("gateway", argv, log_path=work / "gateway.log", env=env).start()
    try:
        proc.wait_ready(lambda: http_ok(f"http://127.0.0.1:{port}/healthz"), timeout=90)
        proc.wait_ready(lambda: "consuming continuum.inbound.>" in proc.tail(200), timeout=30)
        yield proc
    finally:
        proc.stop()


async def publish(config: Nats, source: str, body: bytes, headers: dict[str, str]) -> None:
    nc = await nats.connect(config.url)
    try:
        js = nc.jetstream()
        await ensure_inbound(js, config)
        await js.publish(f"{config.inbound_subject_prefix}.{source}", body, headers=headers)
    finally:
        await nc.close()


async def test_the_gateway_dead_letters_what_it_cannot_apply_and_redelivers_what_temporal_missed(
    gateway: ManagedProcess, config: Nats
) -> None:
    bad = json.dumps({"id": "GW-1", "type": "shipment-delivered", "data": {}}).encode()
    await publish(config, "carrier", bad, {HEADER: sign("carrier-secret", bad, int(time.time()))})
    good = json.dumps(
        {"id": "GW-2", "type": "shipment-delivered", "data": {"order_id": "GW-O-2"}}
    ).encode()
    await publish(config, "carrier", good, {HEADER: sign("carrier-secret", good, int(time.time()))})

    deadline = time.monotonic() + 60
    while not (letters := await list_dead_letters(config)):
        assert time.monotonic() < deadline, gateway.tail()
        await asyncio.sleep(0.2)
    (letter,) = letters
    assert (letter.event_id, letter.code) == ("GW-1", "MalformedEvent")
    assert "data.order_id: Field required" in letter.reason

    # GW-2 reached no Temporal: it is delivered again and again, never acked or dead-lettered.
    nc = await nats.connect(config.url)
    try:
        js = nc.jetstream()
        while (
            info := await js.consumer_info(config.inbound_stream, config.consumer)
        ).num_redelivered < 1:
            assert time.monotonic() < deadline, gateway.tail()
            await asyncio.sleep(0.2)
    finally:
        await nc.close()
    assert info.num_ack_pending == 1
    assert [d.event_id for d in await list_dead_letters(config)] == ["GW-1"]


@pytest.fixture
def own_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The in-process CLI's settings read afresh, with Continuum's store (the audit) in tmp."""
    monkeypatch.setenv("CONTINUUM_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    try:
        yield tmp_path / "data"
    finally:
        get_settings.cache_clear()


def test_the_incident_console_lists_a_dead_letter_and_redrives_it(
    gateway: ManagedProcess,
    config: Nats,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    own_store: Path,
) -> None:
    """After the test above: GW-1 (malformed) waits as a dead letter."""
    events = tmp_path / "events.toml"
    events.write_text(f'[nats]\nurl = "{config.url}"\nembedded = false\n')
    monkeypatch.setenv("EVENTS_CONFIG_FILE", str(events))
    listed = CliRunner().invoke(app, ["incidents", "dead-letters", "--json"])
    assert listed.exit_code == 0, listed.output
    (letter,) = json.loads(listed.output)
    assert (letter["event_id"], letter["code"]) == ("GW-1", "MalformedEvent")

    again = CliRunner().invoke(
        app, ["incidents", "redrive", str(letter["sequence"]), "--by", "olga"]
    )
    assert again.exit_code == 0, again.output
    assert "re-drove" in again.output and "GW-1" in again.output
    # Still malformed: the gateway dead-letters it again, as a new letter, the old one gone.
    deadline = time.monotonic() + 60
    while True:
        letters = asyncio.run(list_dead_letters(config))
        if letters and letters[0].sequence != letter["sequence"]:
            break
        assert time.monotonic() < deadline, gateway.tail()
        time.sleep(0.2)
    assert [(d.event_id, d.code) for d in letters] == [("GW-1", "MalformedEvent")]

    # The same letter again: gone, refused. Both are in the incident audit, who and why.
    gone = CliRunner().invoke(
        app, ["incidents", "redrive", str(letter["sequence"]), "--by", "olga"]
    )
    assert gone.exit_code == 1
    assert f"no dead letter #{letter['sequence']}" in gone.output
    audit = CliRunner().invoke(app, ["incidents", "audit", "--json"])
    assert audit.exit_code == 0, audit.output
    entries = [
        (e["plan_id"], e["event"], e["action"], e["actor"]) for e in json.loads(audit.output)
    ]
    ref = f"dead-letter-{letter['sequence']}"
    assert entries == [(ref, "redriven", "redrive", "olga"), (ref, "refused", "redrive", "olga")]
    redriven = json.loads(audit.output)[0]
    assert redriven["reason"].startswith("MalformedEvent: ")
    assert "GW-1" in redriven["detail"] and redriven["detail"].endswith(letter["subject"])

    monkeypatch.setenv("EVENTS_CONFIG_FILE", str(Path(__file__).parents[1] / "events_off.toml"))
    refused = CliRunner().invoke(app, ["incidents", "dead-letters"])
    assert refused.exit_code == 1
    assert "no broker is configured" in refused.output


def url_of(gateway: ManagedProcess) -> str:
    return f"http://127.0.0.1:{gateway.argv[gateway.argv.index('--port') + 1]}"


def test_the_incidents_page_lists_dead_letters_and_an_operator_redrives_one(
    gateway: ManagedProcess, config: Nats
) -> None:
    """After the tests above: GW-1 (still malformed) waits as a dead letter again."""
    [letter] = asyncio.run(list_dead_letters(config))
    http, answer = sign_in(url_of(gateway), "olga", OLGA)
    try:
        assert answer.status_code == 303, answer.text
        page = http.get("/incidents")
        assert page.status_code == 200, page.text
        row = re.search(rf'<tr data-letter="{letter.sequence}">(.*?)</tr>', page.text, re.S)
        assert row, page.text
        assert "GW-1" in row[1] and "MalformedEvent: " in row[1]
        token = CSRF.search(page.text)
        assert token
        forged = http.post("/incidents/dead-letters/redrive", data={"sequence": "1"})
        assert forged.status_code == 403  # no CSRF token: nothing moves
        done = http.post(
            "/incidents/dead-letters/redrive",
            data={"csrf_token": token[1], "sequence": str(letter.sequence)},
        )
        assert done.status_code == 303
        after = http.get("/incidents")
        assert f"Re-drove #{letter.sequence}: " in after.text
        # The gateway dead-letters it again (still malformed): a new number, the old one gone.
        deadline = time.monotonic() + 60
        waiting = [letter.sequence]
        while waiting in ([letter.sequence], []):
            waiting = [d.sequence for d in asyncio.run(list_dead_letters(config))]
            assert time.monotonic() < deadline, gateway.tail()
            time.sleep(0.2)
        assert f'<tr data-letter="{waiting[0]}">' in http.get("/incidents").text
        gone = http.post(
            "/incidents/dead-letters/redrive",
            data={"csrf_token": token[1], "sequence": str(letter.sequence)},
        )
        assert gone.status_code == 303
        assert f"no dead letter #{letter.sequence}" in http.get("/incidents").text
    finally:
        http.close()
    sales, _ = sign_in(url_of(gateway), "alice", "alice-password")
    try:
        assert sales.get("/incidents").status_code == 403  # the operations role only
    finally:
        sales.close()
    audit = IncidentAudit(Store(f"sqlite:///{gateway_data(gateway) / 'continuum.db'}").open())
    ref = f"dead-letter-{letter.sequence}"
    assert [(e.event, e.actor) for e in audit.entries(plan_id=ref)] == [
        ("redriven", "olga"),
        ("refused", "olga"),
    ]


def gateway_data(gateway: ManagedProcess) -> Path:
    return Path(gateway.env["CONTINUUM_DATA_DIR"])
