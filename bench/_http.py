"""A raw HTTP/1.1 request over loopback, for a benchmark's control routes.

One request per fresh connection, written by hand on asyncio streams: no client library
in the load generator's process, so nothing but the bytes competes with the measurement.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

HOST = "127.0.0.1"


async def http_json(
    port: int,
    method: str,
    path: str,
    body: Any = None,
    headers: dict[str, str] | None = None,
    within: float = 30.0,
) -> tuple[int, Any]:
    """One HTTP/1.1 request on a fresh connection (``Connection: close``); (status, JSON body)."""
    payload = b"" if body is None else json.dumps(body).encode()
    lines = [
        f"{method} {path} HTTP/1.1",
        f"Host: {HOST}:{port}",
        "Connection: close",
        f"Content-Length: {len(payload)}",
    ]
    if body is not None:
        lines.append("Content-Type: application/json")
    lines.extend(f"{name}: {value}" for name, value in (headers or {}).items())
    request = ("\r\n".join(lines) + "\r\n\r\n").encode() + payload

    async def exchange() -> bytes:
        reader, writer = await asyncio.open_connection(HOST, port)
        try:
            writer.write(request)
            return await reader.read()
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    raw = await asyncio.wait_for(exchange(), within)
    head, _, content = raw.partition(b"\r\n\r\n")
    status = int(head[9:12])
    if b"transfer-encoding: chunked" in head.lower():
        content = _dechunk(content)
    return status, json.loads(content) if content else None


def _dechunk(data: bytes) -> bytes:
    out = bytearray()
    while data:
        size_line, _, rest = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            break
        out += rest[:size]
        data = rest[size + 2 :]
    return bytes(out)


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop when installed (a cheaper load generator), else the default loop."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()
