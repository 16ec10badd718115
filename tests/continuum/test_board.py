"""The board's configuration and its reader when Temporal cannot be reached."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from temporalio.client import Client

from continuum.board import BoardConfigError, BoardReader, load_board_config
from continuum.supervisor import free_port


def test_the_shipped_configuration_loads() -> None:
    config = load_board_config()
    assert config.target == 0.98 and config.goal == 0.5
    assert {p.workflow_type for p in config.processes} >= {"OrderToCash", "Approval"}
    assert config.task_queues == ["continuum-orders", "continuum-ops"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("target = [", "is not valid TOML"),
        ("target = 2", "target: Input should be less than or equal to 1"),
        (
            '[[processes]]\nname = "x"\nworkflow_type = "X"\nmanual_p50_hours = 1\n',
            "processes.0.manual_p95_hours: Field required",
        ),
    ],
)
def test_a_bad_file_is_refused_in_one_line_naming_it(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "board.toml"
    path.write_text(text)
    with pytest.raises(BoardConfigError) as refused:
        load_board_config(path)
    line = str(refused.value)
    assert line.startswith(f"board config {path}") and message in line and "\n" not in line


def test_a_missing_file_is_named() -> None:
    with pytest.raises(BoardConfigError, match=r"cannot read board config /nowhere/board\.toml"):
        load_board_config(Path("/nowhere/board.toml"))


async def test_without_temporal_the_board_says_what_it_cannot_read() -> None:
    client = await Client.connect(f"127.0.0.1:{free_port()}", lazy=True)
    config = load_board_config()
    started = time.monotonic()
    board = await BoardReader(client, config).read(datetime.now(UTC))
    assert time.monotonic() - started < 30
    assert board.success == [] and board.queues == [] and board.alerts == []
    named = " | ".join(board.notes)
    for figure in ("success rate, last hour", "throughput, last 24 hours", "task queue"):
        assert figure in named, named
    assert "firing alerts" in named
