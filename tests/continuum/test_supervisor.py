"""Children of the stack never outlive it: a parent that is SIGKILLed takes them along."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import psutil  # type: ignore[import-untyped]  # no stubs in the dev extra

from continuum.supervisor import free_port, wait_until

# A parent that starts one long-lived child through the supervisor, says its pid, and waits.
PARENT = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from continuum.supervisor import ManagedProcess
    child = ManagedProcess(
        "sleeper", [sys.executable, "-c", "import time; time.sleep(600)"],
        log_path=Path(sys.argv[1]),
    ).start()
    print(child.pid, flush=True)
    time.sleep(600)
    """
)


def _gone(pid: int) -> bool:
    try:
        zombie: bool = psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
        return zombie
    except psutil.NoSuchProcess:
        return True


def test_a_child_dies_when_its_parent_is_killed(tmp_path: Path) -> None:
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, str(tmp_path / "sleeper.log")],
        stdout=subprocess.PIPE,
        text=True,
    )
    child = 0
    try:
        assert parent.stdout is not None
        child = int(parent.stdout.readline())
        assert not _gone(child), "the child should run while its parent does"
        parent.send_signal(signal.SIGKILL)
        parent.wait(timeout=10)
        wait_until(lambda: _gone(child), 10, f"child {child} to end after its parent's death")
    finally:
        if parent.poll() is None:
            parent.kill()
        if child and not _gone(child):
            psutil.Process(child).kill()


def test_free_ports_are_distinct_bindable_and_outside_the_ephemeral_range() -> None:
    """Ports for the stacks the tests start: a port from the kernel's ephemeral range could
    become some outgoing connection's local port before the service binds it."""
    floor = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    ports = [free_port() for _ in range(200)]
    assert len(set(ports)) == len(ports)
    assert all(10_000 <= port < floor for port in ports), sorted(ports)[-3:]
    for port in ports[:20]:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", port))
