"""The three chat servers the benchmark compares, each in a process of its own.

* ``naive``: the course outline's ``StreamChatManager`` on FastAPI, as written: a set of
  sockets per stream and a broadcast loop that awaits each ``send_json`` in turn.
* ``bare``: the ``websockets`` library's own server and its ``broadcast()``, which writes
  to every connection without waiting (no backpressure at all).
* ``streamverse``: the real ``create_app()`` and its ``/streams/{id}/chat`` (auth, strict
  parsing, rate limits, filters, broker ids, SQLite persistence, one mailbox per client),
  with the garbage-collector settings ``streamverse serve`` applies (``gctune``).

All three run uvicorn the way ``streamverse serve`` does (``bare`` is its own server), on
127.0.0.1, pinned to one core; the benchmark process drives them from the other core.
"""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from _procs import pin, raise_nofile, send_safely
from fastapi import FastAPI, WebSocket, WebSocketDisconnect

VARIANTS = ("naive", "bare", "streamverse")


def naive_app() -> Any:
    """The outline's chat, as it was (its module-level code in one function)."""
    app = FastAPI()

    class StreamChatManager:
        def __init__(self) -> None:
            self.active_connections: dict[str, set[WebSocket]] = {}
            self.moderators: dict[str, set[str]] = {}

        async def connect(self, websocket: WebSocket, stream_id: str, user_id: str) -> None:
            await websocket.accept()
            if stream_id not in self.active_connections:
                self.active_connections[stream_id] = set()
            self.active_connections[stream_id].add(websocket)
            await websocket.send_json(
                {
                    "type": "system",
                    "message": "Welcome to the stream chat!",
                    "user_count": len(self.active_connections[stream_id]),
                }
            )

        async def disconnect(self, websocket: WebSocket, stream_id: str) -> None:
            if stream_id in self.active_connections:
                self.active_connections[stream_id].discard(websocket)

        async def broadcast_to_stream(self, message: dict[str, Any], stream_id: str) -> None:
            if stream_id in self.active_connections:
                for connection in self.active_connections[stream_id].copy():
                    try:
                        await connection.send_json(message)
                    except:  # noqa: E722  (the outline's bare except)
                        await self.disconnect(connection, stream_id)

    chat_manager = StreamChatManager()

    @app.websocket("/streams/{stream_id}/chat")
    async def stream_chat(websocket: WebSocket, stream_id: str, user_id: str) -> None:
        await chat_manager.connect(websocket, stream_id, user_id)
        try:
            while True:
                data = await websocket.receive_json()
                message = {
                    "type": "chat",
                    "user_id": user_id,
                    "message": data["message"],
                    "timestamp": datetime.now().isoformat(),
                }
                await chat_manager.broadcast_to_stream(message, stream_id)
        except WebSocketDisconnect:
            await chat_manager.disconnect(websocket, stream_id)

    return app


def streamverse_app(data_dir: str) -> Any:
    from streamverse.app import create_app
    from streamverse.config import Settings

    settings = Settings(
        data_dir=Path(data_dir),
        chat_rate_messages_moderator=10**9,  # the publisher is the owner: checked, never hit
        chat_commands_per_second=10**6,
        chat_max_connections_per_ip=0,  # every client comes from 127.0.0.1
    )
    return create_app(settings)


async def bare_server(conn: Connection) -> None:
    from websockets.asyncio.server import ServerConnection, broadcast, serve
    from websockets.exceptions import ConnectionClosed

    connections: set[ServerConnection] = set()

    async def handler(websocket: ServerConnection) -> None:
        connections.add(websocket)
        try:
            await websocket.send(json.dumps({"type": "system", "message": "welcome"}))
            async for raw in websocket:
                data = json.loads(raw)
                message = {
                    "type": "chat",
                    "user_id": "publisher",
                    "message": data["message"],
                    "timestamp": datetime.now().isoformat(),
                }
                broadcast(connections, json.dumps(message))
        except ConnectionClosed:
            pass  # the bench cuts its clients without a close frame: not an error
        finally:
            connections.discard(websocket)

    async with serve(handler, "127.0.0.1", 0, backlog=4096, max_size=64 * 1024) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        send_safely(conn, ("ready", port))
        await server.serve_forever()


def serve(conn: Connection, variant: str, cpu: int | None, data_dir: str) -> None:
    """Server process: the variant, until SIGTERM."""
    try:
        raise_nofile()
        pin(cpu)
        if variant == "bare":
            asyncio.run(bare_server(conn))
            return

        from streamverse.server import Server, bind_socket, make_config

        if variant == "naive":
            app = naive_app()
        else:
            from streamverse import gctune

            app = streamverse_app(data_dir)
            gctune.tune_for_serving()  # as `streamverse serve` does
        sock = bind_socket("127.0.0.1", 0)
        port = sock.getsockname()[1]

        class BenchServer(Server):
            async def startup(self, sockets: Any = None) -> None:
                await super().startup(sockets=sockets)
                send_safely(conn, ("ready", port))

        config = make_config(  # the app's WebSocket limits, as `streamverse serve` has them
            app,
            loop="asyncio",
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=5,
            backlog=4096,
        )
        BenchServer(config).run(sockets=[sock])
    except BaseException as error:
        send_safely(conn, ("error", f"{type(error).__name__}: {error}"))
        raise
