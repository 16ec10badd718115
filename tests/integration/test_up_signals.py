"""`continuum up` leaves nothing behind: a closed terminal (SIGHUP) stops the stack cleanly, and a
SIGKILLed `continuum up` takes its children along, so the next `make run` finds its ports free."""

from __future__ import annotations

import signal
from pathlib import Path

import psutil  # type: ignore[import-untyped]  # no stubs in the dev extra

from continuum.supervisor import port_in_use, wait_until
from tests.integration.conftest import free_ports
from tests.integration.test_up import read_until, up


def _children(pid: int) -> list[psutil.Process]:
    found: list[psutil.Process] = psutil.Process(pid).children(recursive=True)
    return found


def _all_gone(procs: list[psutil.Process]) -> bool:
    for proc in procs:
        try:
            if proc.status() != psutil.STATUS_ZOMBIE:
                return False
        except psutil.NoSuchProcess:
            continue
    return True


def test_a_closed_terminal_stops_the_stack_cleanly(tmp_path: Path) -> None:
    ports = free_ports()
    proc = up(tmp_path, ports, "--no-demo")
    try:
        read_until(proc, "Stack is up", within=180)
        children = _children(proc.pid)
        assert len(children) >= 7, children  # the six services and the ops worker
        proc.send_signal(signal.SIGHUP)
        out, _ = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "stopped cleanly: codec, temporal, erp, crm, worker, ops-worker, gateway" in out, out
    assert _all_gone(children)
    assert not any(port_in_use(p) for p in ports.named().values())


def test_a_killed_up_takes_its_children_along(tmp_path: Path) -> None:
    ports = free_ports()
    proc = up(tmp_path, ports, "--no-demo")
    children: list[psutil.Process] = []
    try:
        read_until(proc, "Stack is up", within=180)
        children = _children(proc.pid)
        assert len(children) >= 7, children
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        wait_until(lambda: _all_gone(children), 60, "the stack's processes to end")
        wait_until(
            lambda: not any(port_in_use(p) for p in ports.named().values()),
            30,
            "every port of the stack to be free",
        )
    finally:
        if proc.poll() is None:
            proc.kill()
        for child in children:
            if child.is_running():
                child.kill()


def test_the_data_directory_is_private(tmp_path: Path) -> None:
    # The quarantine holds whole records (e-mail addresses included); logs and keys live there too.
    data = tmp_path / "data"
    ports = free_ports()
    proc = up(data, ports, "--no-demo")
    try:
        read_until(proc, "Stack is up", within=180)
        assert data.stat().st_mode & 0o777 == 0o700
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=90)
