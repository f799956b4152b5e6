"""HTTP glue both upload routers share: the request body as chunks, the bearer token."""

from __future__ import annotations

from collections.abc import AsyncIterator

from starlette.requests import ClientDisconnect, Request

from ..errors import BadRequest, ServiceError


class Disconnected(BadRequest):
    """The client went away before the end of its body (nobody reads this answer)."""


class Body:
    """A request's body as chunks (``request.stream()`` without its empty chunks, and a
    disconnect as a ``ServiceError``), noting whether it was read to its end."""

    def __init__(self, request: Request) -> None:
        self.request = request
        self.complete = False

    async def chunks(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self.request.stream():
                if chunk:
                    yield chunk
        except ClientDisconnect:
            raise Disconnected("the client disconnected before the end of the body") from None
        self.complete = True

    def refuse(self, error: ServiceError) -> ServiceError:
        """``error``, made to close the connection if the body was not read to its end:
        otherwise the server would read (and drop) the rest of it to reach the next
        request, and the client would send all of it for nothing."""
        if not self.complete:
            error.headers = {**(error.headers or {}), "Connection": "close"}
        return error


def bearer_token(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def content_length(request: Request) -> int | None:
    """The declared body size; ``BadRequest`` for a malformed one."""
    raw = request.headers.get("content-length")
    if raw is None:
        return None
    if not raw.strip().isdecimal() or len(raw) > 19:
        raise BadRequest("malformed Content-Length")
    return int(raw)
