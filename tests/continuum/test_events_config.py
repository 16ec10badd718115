"""The events configuration: the shipped file loads, a mistake is one line naming the file, the
line and the field, and the events worker refuses what it cannot deliver with."""

from __future__ import annotations

import base64
import os
import subprocess
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidTag

from connectors.events.field_cipher import decrypt
from continuum.events.config import DEFAULT_FILE, EventsConfigError, load_events_config
from continuum.stack import Stack, StackError
from continuum.supervisor import python_module
from workers.connectors import ConfigurationError
from workers.events import build_sinks, field_encryption

GOOD = """
[[subscribers]]
name = "warehouse"
url = "https://warehouse.example.com/events"
secret_env = "EVENTS_SECRET_WAREHOUSE"
types = ["order.*"]

[privacy]
mode = "encrypt"
"""


def _file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "events.toml"
    path.write_text(text)
    return path


def test_the_shipped_file_loads_and_turns_events_on() -> None:
    config = load_events_config(DEFAULT_FILE)
    assert config.enabled and config.nats is not None and config.subscribers == []


def test_an_empty_file_turns_events_off(tmp_path: Path) -> None:
    assert not load_events_config(_file(tmp_path, "# nothing\n")).enabled


def test_a_subscriber_is_structured_unless_it_asks_for_binary(tmp_path: Path) -> None:
    config = load_events_config(_file(tmp_path, GOOD))
    [warehouse] = config.subscribers
    assert warehouse.mode == "structured" and warehouse.types == ["order.*"]


@pytest.mark.parametrize(
    ("text", "where"),
    [
        (GOOD.replace("https://warehouse", "warehouse"), "line 4: field subscribers.0.url"),
        (GOOD.replace('"EVENTS_SECRET', '"lower'), "line 5: field subscribers.0.secret_env"),
        (GOOD.replace('"encrypt"', '"shout"'), "line 9: field privacy.mode"),
        (GOOD + GOOD.split("[privacy]")[0], "field subscribers: a second subscriber named"),
        (GOOD.replace("types =", "topics ="), "line 6: field subscribers.0.topics"),
    ],
)
def test_a_mistake_is_one_line_naming_file_line_and_field(
    tmp_path: Path, text: str, where: str
) -> None:
    path = _file(tmp_path, text)
    with pytest.raises(EventsConfigError) as refused:
        load_events_config(path)
    message = str(refused.value)
    assert message.startswith(f"events config {path}") and where in message
    assert "\n" not in message


def test_a_subscriber_without_its_secret_stops_the_worker(tmp_path: Path) -> None:
    config = load_events_config(_file(tmp_path, GOOD))
    with pytest.raises(ConfigurationError, match="EVENTS_SECRET_WAREHOUSE \\(warehouse\\)"):
        build_sinks(config, {})
    [sink] = build_sinks(config, {"EVENTS_SECRET_WAREHOUSE": "s"})
    assert sink.name == "webhook:warehouse"


def test_encrypted_fields_open_with_the_codec_key_only(tmp_path: Path) -> None:
    config = load_events_config(_file(tmp_path, GOOD))
    with pytest.raises(ConfigurationError, match="needs a codec key"):
        field_encryption(config, {"CONTINUUM_DATA_DIR": str(tmp_path)})
    key = os.urandom(32)
    encrypt = field_encryption(
        config, {"CONTINUUM_CODEC_KEYS": f"k1:{base64.b64encode(key).decode()}"}
    )
    assert encrypt is not None
    sealed = encrypt("order-O-1/3", "email", "ada@example.com")
    assert sealed["keyId"] == "k1" and "ada" not in sealed["encrypted"]
    assert decrypt(key, "order-O-1/3", sealed) == "ada@example.com"
    with pytest.raises(InvalidTag):  # bound to its event: moved to another, it does not open
        decrypt(key, "order-O-2/3", sealed)


def test_the_stack_starts_the_events_worker_only_when_events_are_configured(
    tmp_path: Path,
) -> None:
    off = Stack(tmp_path, worker_env={"EVENTS_CONFIG_FILE": str(_file(tmp_path, ""))})
    assert not off.events_enabled()
    on = Stack(tmp_path, worker_env={"EVENTS_CONFIG_FILE": str(DEFAULT_FILE)})
    assert on.events_enabled()
    bad = Stack(tmp_path, worker_env={"EVENTS_CONFIG_FILE": str(_file(tmp_path, "[nats\n"))})
    with pytest.raises(StackError, match="not valid TOML"):
        bad.events_enabled()


def test_a_bad_file_stops_the_events_worker_before_it_starts(tmp_path: Path) -> None:
    path = _file(tmp_path, GOOD.replace('"encrypt"', '"shout"'))
    done = subprocess.run(
        python_module("workers.events"),
        env={**os.environ, "EVENTS_CONFIG_FILE": str(path), "TEMPORAL_ADDRESS": "127.0.0.1:1"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    [line] = [x for x in (done.stdout + done.stderr).splitlines() if "events config" in x]
    assert "cannot start the events worker" in line and "line 9: field privacy.mode" in line
