"""The server ``bench_uploads.py`` measures: the platform, plus two baselines mounted beside
its routes for the same run.

* ``POST /bench/raw``: the fastest a server can take a body: ``request.stream()`` written
  to one file as it arrives, nothing else (no parsing, no hashing, no checks).
* ``POST /bench/outline``: the course outline's upload: FastAPI's ``UploadFile`` (Starlette
  spools the part into a temporary file first), then copied in 1 MiB reads to
  ``uploads/videos/`` (the name made safe here; the outline used the client's).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
import sys
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Annotated

import aiofiles
import uvicorn
from fastapi import File, Form, Request, UploadFile

sys.path.insert(0, str(Path(__file__).parent))
from _common import HOST, pin, send_safely

from streamverse.app import create_app
from streamverse.config import Settings
from streamverse.server import Server, bind_socket


def build(data_dir: Path, limit: int):  # type: ignore[no-untyped-def]
    app = create_app(Settings(data_dir=data_dir, upload_max_bytes=limit))
    sinks = data_dir / "bench"

    async def raw(request: Request) -> dict[str, int]:
        sinks.mkdir(parents=True, exist_ok=True)
        path = sinks / f"raw-{secrets.token_hex(8)}"
        size = 0
        with path.open("wb") as file:
            async for chunk in request.stream():
                file.write(chunk)
                size += len(chunk)
        return {"size": size}

    async def outline(
        file: Annotated[UploadFile, File()], title: Annotated[str, Form()]
    ) -> dict[str, int]:
        target = data_dir / "uploads" / "videos"
        target.mkdir(parents=True, exist_ok=True)
        name = os.path.basename(file.filename or "upload")
        size = 0
        async with aiofiles.open(target / f"{secrets.token_hex(8)}_{name}", "wb") as out:
            while chunk := await file.read(1024 * 1024):
                await out.write(chunk)
                size += len(chunk)
        return {"size": size}

    app.router.add_api_route("/bench/raw", raw, methods=["POST"])
    app.router.add_api_route("/bench/outline", outline, methods=["POST"])
    return app


class _Announcing(Server):
    """Tells the parent its port once startup (lifespan included) has finished."""

    def __init__(self, config: uvicorn.Config, conn: Connection, port: int) -> None:
        super().__init__(config)
        self._conn, self._port = conn, port

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        send_safely(self._conn, ("ready", self._port))


def serve(conn: Connection, data_dir: str, limit: int, cpu: int | None) -> None:
    pin(cpu)
    try:
        sock = bind_socket(HOST, 0)
        config = uvicorn.Config(build(Path(data_dir), limit), loop="asyncio", log_level="warning")
        server = _Announcing(config, conn, sock.getsockname()[1])
        asyncio.run(server.serve(sockets=[sock]))
    except Exception as error:  # reported to the parent, which raises it
        send_safely(conn, ("error", repr(error)))
