"""A uvicorn ``Server`` that ends live streams before it waits for connections to close.

uvicorn's graceful shutdown waits for every open response to finish. SSE and NDJSON feeds
never finish on their own, so a plain uvicorn would wait until its timeout (or forever).
An app may expose ``app.state.begin_shutdown``, an async callable that ends its long-lived
responses; this server calls it first, so shutdown with thousands of open feeds is prompt.
It may also expose ``app.state.server_options``, uvicorn settings it needs (``make_config``).
"""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import Any

import uvicorn

logger = logging.getLogger("streamverse.server")


STALLED_AFTER = 1.0
"""Seconds after the feeds were ended that a connection still unable to take its last bytes
(a client that stopped reading) is cut, instead of holding shutdown until the timeout."""


class Server(uvicorn.Server):
    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        hook = _begin_shutdown_hook(self.config.app)
        if hook is not None:
            try:
                await hook()
            except Exception:
                logger.exception("begin_shutdown hook failed; falling back to uvicorn's timeout")
            loop = asyncio.get_running_loop()
            cutter = loop.call_later(STALLED_AFTER, self._cut_stalled_connections)
        try:
            await super().shutdown(sockets=sockets)
        finally:
            if hook is not None:
                cutter.cancel()

    def _cut_stalled_connections(self) -> None:
        """A feed whose client stopped reading cannot finish: its writes wait for buffer
        space that never comes. Data still queued after the grace period means exactly
        that; aborting the transport ends the write, and so the response."""
        for connection in list(self.server_state.connections):
            transport = getattr(connection, "transport", None)
            if transport is not None and transport.get_write_buffer_size() > 0:
                logger.info("cutting a connection that stopped reading during shutdown")
                transport.abort()


def make_config(app: Any, **options: Any) -> uvicorn.Config:
    """uvicorn's config for ``app``: the app's own ``server_options`` (its WebSocket limits:
    uvicorn would otherwise read a 16 MiB frame into memory before the app sees it), then
    ``options``."""
    state = getattr(app, "state", None)
    wanted = dict(getattr(state, "server_options", None) or {})
    return uvicorn.Config(app, **{**wanted, **options})


def _begin_shutdown_hook(app: Any) -> Any:
    state = getattr(app, "state", None)
    return getattr(state, "begin_shutdown", None)


def bind_socket(host: str, port: int) -> socket.socket:
    """Bind before starting, so a busy port is a clear error here, not a ``sys.exit`` later."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto=IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets that say they are
    # TCP, and without it every response written in two parts waits ~40 ms (Nagle).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        raise OSError(error.errno, f"cannot listen on {host}:{port}: {error.strerror}") from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock
