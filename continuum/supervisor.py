"""Start, watch and stop the child processes of the embedded stack (and of the test suite).

Every process is started in its own session so that stopping it also stops what it spawned,
and readiness is awaited on a condition with a deadline, never a fixed sleep. A child never
outlives its parent: the kernel sends it SIGTERM when the parent dies (SIGKILLed, a closed
terminal), so a crashed `continuum up` or test run leaves no process holding its ports.
"""

from __future__ import annotations

import contextlib
import ctypes
import http.client
import os
import random
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path


class ProcessError(RuntimeError):
    pass


_PR_SET_PDEATHSIG = 1  # linux/prctl.h
_libc = ctypes.CDLL(None, use_errno=True) if sys.platform == "linux" else None


def _die_with_parent(parent: int) -> Callable[[], None]:
    """Runs in the child between fork and exec (so it survives exec): SIGTERM when the parent
    dies. Linux ties this to the thread that forked, so start children from a thread that lives
    as long as they should (the main thread, or an executor thread of a running event loop)."""

    def arm() -> None:
        if _libc is None:
            return
        _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # the parent died before the line above: nobody will tell us
            os._exit(1)

    return arm


# Ports handed out by this process: never the same one twice.
_handed: set[int] = set()
_LOWEST = 10_000


def _ephemeral_floor() -> int:
    """Where the kernel starts choosing the local ports of outgoing connections."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32_768


def free_port() -> int:
    """A port free now, for a process started next. Chosen below the kernel's ephemeral range:
    one from that range (what binding port 0 gives) may become the local port of any outgoing
    connection on the machine before the process binds it, which CI saw ("address already in
    use" seconds later, a test module's stack lost)."""
    floor = _ephemeral_floor()
    for _ in range(100 if floor > _LOWEST + 1_000 else 0):
        port = random.randrange(_LOWEST, floor)
        if port not in _handed and _bindable(port):
            _handed.add(port)
            return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        found: int = sock.getsockname()[1]
        _handed.add(found)
        return found


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


def wait_until(
    check: Callable[[], bool], timeout: float, what: str, interval: float = 0.05
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")


def http_ok(url: str) -> bool:
    """Whether `url` answers below 500. Polled every 50 ms while a process starts, so it is the
    standard library's plain HTTP: `httpx.get` builds a client (an SSL context) per call, about
    50 ms of CPU each, half a core taken from the very processes being waited for."""
    try:
        with urllib.request.urlopen(url, timeout=1.0) as answer:
            return int(answer.status) < 500
    except urllib.error.HTTPError as err:
        return err.code < 500
    except (OSError, ValueError, http.client.HTTPException):  # refused, reset, timed out
        return False


class ManagedProcess:
    """One child process with its log file; `stop()` is safe to call twice."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        log_path: Path,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        self.env = {**os.environ, **(env or {})}
        self.cwd = cwd
        self.proc: subprocess.Popen[bytes] | None = None
        # Logs are appended across runs; this run's output starts here.
        self.log_offset = 0
        # True when stop() had to SIGKILL it: it did not exit within the grace period.
        self.forced = False

    def start(self) -> ManagedProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self.log_offset = log.tell()
        self.proc = subprocess.Popen(
            self.argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=self.env,
            cwd=self.cwd,
            start_new_session=True,
            preexec_fn=_die_with_parent(os.getpid()),
        )
        log.close()
        return self

    @property
    def pid(self) -> int:
        if self.proc is None:
            raise ProcessError(f"{self.name} was not started")
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def wait_ready(self, check: Callable[[], bool], timeout: float = 30.0) -> None:
        def ready() -> bool:
            if not self.alive():
                raise ProcessError(
                    f"{self.name} exited with {self.proc.returncode if self.proc else '?'} "
                    f"before it was ready; last log lines:\n{self.tail()}"
                )
            return check()

        try:
            wait_until(ready, timeout, f"{self.name} to be ready")
        except TimeoutError as err:
            raise ProcessError(f"{err}; last log lines:\n{self.tail()}") from None

    def kill(self) -> None:
        """SIGKILL the whole process group: a crash, as in the continuity tests."""
        if self.alive():
            assert self.proc is not None
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM, then SIGKILL after `timeout`; returns the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.forced = True
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        return self.proc.returncode

    def tail(self, lines: int = 20) -> str:
        """The last lines this run wrote (not earlier runs' lines in the same file)."""
        try:
            with self.log_path.open("rb") as log:
                log.seek(self.log_offset)
                text = log.read().decode(errors="replace")
        except FileNotFoundError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])


def python_module(module: str, *args: str) -> list[str]:
    """argv that runs `python -m module` with this interpreter (the project's venv)."""
    return [sys.executable, "-m", module, *args]
