"""Send a chunked body that never ends, and read what the server answers meanwhile."""

from __future__ import annotations

import socket
from urllib.parse import urlsplit


def answer_to_endless_body(url: str, path: str, content_type: str, mebibytes: int) -> bytes:
    """POSTs `mebibytes` MiB in 1 MiB chunks without the final chunk: a server that streams with
    a cap answers before the body ends; one that buffers the whole body never answers."""
    parts = urlsplit(url)
    assert parts.hostname and parts.port
    chunk = b"x" * (1 << 20)
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as sock:
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {parts.hostname}\r\nContent-Type: {content_type}\r\n"
            "Transfer-Encoding: chunked\r\n\r\n"
        )
        sock.sendall(head.encode())
        try:
            for _ in range(mebibytes):
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed: read its answer
        return sock.recv(4096)
