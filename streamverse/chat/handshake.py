"""The handshake of ``/streams/{stream_id}/chat``: the checks made before a connection is
accepted (Origin) and right after (connections per address, ``since``, the stream), each
refusal with a code and a reason in words; then the connection runs (``connection.py``).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.datastructures import Headers, QueryParams
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket

from ..errors import NotFound, error_response
from ..services import Services
from ..streams import service as streams
from .connection import ChatConnection
from .hub import hub_of
from .protocol import POLICY, TRY_LATER, Close


async def serve(services: Services, scope: Scope, receive: Receive, send: Send) -> None:
    """The whole life of one connection to ``/streams/{stream_id}/chat``."""
    websocket = WebSocket(scope, receive, send)
    stream_id = websocket.path_params["stream_id"]
    since, origin, host = _asked(scope)
    settings = services.settings
    if not origin_allowed(origin, host, settings.chat_allowed_origins):
        await deny(websocket, f"origin {origin!r} may not open this chat")
        return
    hub = hub_of(services)
    client = scope.get("client")
    address = client[0] if client else "unknown"
    await websocket.accept()
    if not hub.per_address.acquire(address, settings.chat_max_connections_per_ip):
        limit = settings.chat_max_connections_per_ip
        await websocket.close(TRY_LATER, f"too many chat connections from your address ({limit})")
        return
    try:
        resume = parse_since(since)
        if isinstance(resume, Close):
            await websocket.close(resume.code, resume.reason)
            return
        try:
            stream = await streams.get_stream(services, stream_id)
        except NotFound as error:
            await websocket.close(POLICY, error.detail)
            return
        connection = ChatConnection(services, hub, websocket, send, stream)
        del stream  # an open connection keeps only what it needs
        await connection.run(resume)
    finally:
        hub.per_address.release(address)


def _asked(scope: Scope) -> tuple[str | None, str | None, str | None]:
    """``since``, Origin and Host, read from the scope without ``websocket.query_params`` or
    ``.headers``: those parse once and stay cached on the WebSocket, which a chat
    connection keeps for hours (and ``.headers`` copies the header list into the scope)."""
    headers = Headers(raw=scope["headers"])
    since = QueryParams(scope["query_string"]).get("since")
    return since, headers.get("origin"), headers.get("host")


def origin_allowed(origin: str | None, host: str | None, allowed: list[str]) -> bool:
    """Same-origin (the page's own host and port), or on the allow-list, or no Origin at all:
    only browsers send one, and it is what stops another site's page from opening a chat in
    its visitor's name (cross-site WebSocket hijacking). Schemes are not compared, so a
    TLS-terminating proxy in front changes nothing."""
    if origin is None or "*" in allowed or origin in allowed:
        return True
    return host is not None and urlsplit(origin).netloc.lower() == host.lower()


async def deny(websocket: WebSocket, detail: str) -> None:
    """Refuse the handshake with 403 and a JSON reason (for clients that show it)."""
    if "websocket.http.response" in websocket.scope.get("extensions", {}):
        await websocket.send_denial_response(error_response(403, detail))
    else:
        await websocket.close(POLICY)  # before accept: the server answers 403


def parse_since(since: str | None) -> int | Close | None:
    if since is None:
        return None
    if not since.isdecimal() or len(since) > 19:
        return Close(POLICY, "since must be the id of the last message received")
    return int(since)
