"""A TCP relay between the worker and an HTTP service that can keep one chosen answer back.

The request goes through and the service does its work (Tryton commits a transaction before it
answers), but its answer is held: the moment "done in the ERP, unknown to the worker" that a
SIGKILL of the worker or of the ERP turns into a retry. A test arms a `Hold` with what the
request contains, waits until the answer is held, then kills what it wants to kill; the held
connection stays open until the test releases it or the caller closes it (the worker never gets
the answer), or is closed at once when the hold says `drop`.

HTTP/1.x without pipelining (httpx), so on one connection an answer follows its request: from
the held request on, whatever the service sends back on that connection is held.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from continuum.supervisor import free_port

HEAD_END = b"\r\n\r\n"
HOLD_LIMIT = 300.0  # seconds a held connection stays open at most without a `release()`


@dataclass
class Hold:
    """Which request's answer to hold, and what happened."""

    matches: Callable[[bytes], bool]
    # Which answer to hold: another one (a warning a connector acknowledges and asks again) is
    # passed on, and the next request that `matches` accepts is tried instead.
    answer_matches: Callable[[bytes], bool] = lambda answer: True
    # Close the connection as soon as the answer is held, instead of at `release()`.
    drop: bool = False
    request: bytes = b""
    answer: bytes = b""
    answered: threading.Event = field(default_factory=threading.Event)  # all of it is held
    released: threading.Event = field(default_factory=threading.Event)

    def release(self) -> None:
        """Closes the held connection (the caller sees it closed without an answer)."""
        self.released.set()

    def complete(self) -> bool:
        head, found, rest = self.answer.partition(HEAD_END)
        return bool(found) and len(rest) >= _content_length(head)


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value.strip())
    return 0


class _Connection:
    def __init__(self, relay: HoldingRelay, client: socket.socket) -> None:
        self.relay, self.client = relay, client
        self.upstream: socket.socket | None = None
        self.hold: Hold | None = None

    def run(self) -> None:
        try:
            self.upstream = socket.create_connection(("127.0.0.1", self.relay.upstream_port), 5)
            self.upstream.settimeout(None)
        except OSError:  # the service is down: the caller sees the connection closed
            self.close()
            return
        threading.Thread(target=self._answers, daemon=True).start()
        self._requests()

    def _requests(self) -> None:
        """Client → service, one whole request at a time, so that it can be matched."""
        buffer = b""
        try:
            while True:
                while HEAD_END not in buffer:
                    if not (chunk := self.client.recv(65536)):
                        return
                    buffer += chunk
                head, _, rest = buffer.partition(HEAD_END)
                size = _content_length(head)
                while len(rest) < size:
                    if not (chunk := self.client.recv(65536)):
                        return
                    rest += chunk
                request, buffer = head + HEAD_END + rest[:size], rest[size:]
                self.hold = self.hold or self.relay.take_hold(request)
                assert self.upstream is not None
                self.upstream.sendall(request)
        except OSError:
            return
        finally:
            self.close()

    def _answers(self) -> None:
        """Service → client, unless this connection's answer is held."""
        assert self.upstream is not None
        try:
            while chunk := self.upstream.recv(65536):
                hold = self.hold
                if hold is None:
                    self.client.sendall(chunk)
                    continue
                hold.answer += chunk
                if not hold.complete():
                    continue
                if hold.answer_matches(hold.answer):
                    hold.answered.set()
                    if hold.drop:
                        return  # the caller sees the connection closed without an answer
                else:  # not this one: passed on, and the next such request is held instead
                    self.client.sendall(hold.answer)
                    self.hold = None
                    self.relay.rearm(hold)
        except OSError:
            pass
        finally:
            # The service closes after its answer (HTTP/1.0): the caller waits on until released.
            hold = self.hold
            if hold is not None and hold.answered.is_set() and not hold.drop:
                hold.released.wait(HOLD_LIMIT)
            self.close()

    def close(self) -> None:
        for sock in (self.client, self.upstream):
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                with contextlib.suppress(OSError):
                    sock.close()


class HoldingRelay:
    """Listens on a free loopback port and relays each connection to `upstream_port`."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.port = free_port()
        self._armed: Hold | None = None
        self._holds: list[Hold] = []
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", self.port))
        self._thread = threading.Thread(target=self._accept, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> HoldingRelay:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        for hold in self._holds:
            hold.release()
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        self._thread.join(timeout=5)

    def hold(
        self,
        matches: Callable[[bytes], bool],
        answer_matches: Callable[[bytes], bool] = lambda answer: True,
        *,
        drop: bool = False,
    ) -> Hold:
        """Holds the first answer that `answer_matches` accepts to a request that `matches`
        accepts (once); `drop`: then closes the connection (the caller never gets it)."""
        hold = Hold(matches, answer_matches, drop)
        with self._lock:
            self._armed = hold
            self._holds.append(hold)
        return hold

    def rearm(self, hold: Hold) -> None:
        hold.request = hold.answer = b""
        with self._lock:
            self._armed = self._armed or hold

    def take_hold(self, request: bytes) -> Hold | None:
        with self._lock:
            armed = self._armed
            if armed is None or not armed.matches(request):
                return None
            self._armed = None
        armed.request = request
        return armed

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # closed
            threading.Thread(target=_Connection(self, client).run, daemon=True).start()
