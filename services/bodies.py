"""Request bodies read with a cap: a body over the limit is refused while it streams in.

Content-Length alone is no guard: a chunked body has none, and `await request.body()` would
buffer all of it, unauthenticated, before anything looked at the source or the signature.
"""

from __future__ import annotations

from starlette.requests import Request


class BodyTooLarge(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(f"the body exceeds {limit} bytes")
        self.limit = limit


async def read_capped(request: Request, limit: int) -> bytes:
    """The whole body, or BodyTooLarge as soon as more than `limit` bytes were announced or read."""
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > limit:
        raise BodyTooLarge(limit)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise BodyTooLarge(limit)
    return bytes(body)
