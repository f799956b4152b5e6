"""A TCP relay that cuts one upload at an exact byte: what a train going into a tunnel does.

``CuttingRelay(server_port).start()`` forwards everything, and records every request head
it sees (method, path, headers). ``cut_after(n, method="PATCH")`` arms a one-shot cut:
the next request with that method gets its head and exactly ``n`` bytes of its body
through, then both sides of its connection are closed. So a test or a lesson can cut an
upload at any point it chooses (in the head, mid-body, after the last byte), the same way
every run, and watch the client resume. It speaks only enough HTTP/1.1 to find request
heads: bodies are skipped by ``Content-Length`` (a chunked body before the armed request
ends the relay's parsing of that connection, which then just passes through).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    headers: dict[str, str]


@dataclass
class _Cut:
    method: str
    body_bytes: int


class CuttingRelay:
    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.port = 0
        self.seen: list[Seen] = []
        self.cuts = 0
        """Connections cut so far."""
        self._armed: _Cut | None = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, daemon=True, name="cutting-relay"
        )
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._cut_done = threading.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> CuttingRelay:
        self._thread.start()
        self._server = self._call(asyncio.start_server(self._serve, "127.0.0.1", 0))
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def cut_after(self, body_bytes: int, method: str = "PATCH") -> None:
        """Cut the next ``method`` request after ``body_bytes`` bytes of its body."""
        self._cut_done.clear()
        self._armed = _Cut(method.upper(), body_bytes)

    def wait_cut(self, timeout: float = 10.0) -> bool:
        return self._cut_done.wait(timeout)

    def methods(self) -> list[str]:
        return [
            f"{seen.method} {seen.headers.get('upload-offset', '')}".strip() for seen in self.seen
        ]

    def close(self) -> None:
        if not self._thread.is_alive():
            return
        with contextlib.suppress(Exception):
            self._call(self._close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()

    def __enter__(self) -> CuttingRelay:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(10)

    async def _close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _serve(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        upstream_w: asyncio.StreamWriter | None = None
        try:
            upstream_r, upstream_w = await asyncio.open_connection("127.0.0.1", self.upstream_port)
            back = asyncio.create_task(self._pipe(upstream_r, client_w))
            try:
                await self._forward(client_r, upstream_w)
            finally:
                back.cancel()
                await asyncio.gather(back, return_exceptions=True)
        except (OSError, asyncio.CancelledError):
            pass
        finally:
            self._tasks.discard(task)
            for writer in (client_w, upstream_w):
                if writer is not None:
                    writer.close()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.close()

    async def _forward(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Client to server, request by request; returns when the connection ends or is cut."""
        buffer = b""
        parsing = True
        while True:
            if parsing and b"\r\n\r\n" in buffer:
                head, buffer = buffer.split(b"\r\n\r\n", 1)
                seen = _parse(head)
                self.seen.append(seen)
                writer.write(head + b"\r\n\r\n")
                armed = self._armed
                if armed is not None and seen.method == armed.method:
                    self._armed = None
                    await self._cut(reader, writer, buffer, armed.body_bytes)
                    return
                length = seen.headers.get("content-length")
                if length is None or not length.isdecimal():
                    parsing = "chunked" not in seen.headers.get("transfer-encoding", "")
                    continue
                buffer = await self._skip(reader, writer, buffer, int(length))
                continue
            data = await reader.read(65536)
            if not data:
                writer.write(buffer)
                await writer.drain()
                return
            if parsing:
                buffer += data
            else:
                writer.write(data)
                await writer.drain()

    async def _skip(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, buffer: bytes, length: int
    ) -> bytes:
        while len(buffer) < length:
            writer.write(buffer)
            length -= len(buffer)
            buffer = await reader.read(65536)
            if not buffer:
                return b""
        writer.write(buffer[:length])
        await writer.drain()
        return buffer[length:]

    async def _cut(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, buffer: bytes, left: int
    ) -> None:
        sent = 0
        while sent < left:
            if not buffer:
                buffer = await reader.read(65536)
                if not buffer:
                    break
            piece, buffer = buffer[: left - sent], buffer[left - sent :]
            writer.write(piece)
            sent += len(piece)
            await writer.drain()
        self.cuts += 1
        self._cut_done.set()


def _parse(head: bytes) -> Seen:
    lines = head.decode("latin-1").split("\r\n")
    method, _, rest = lines[0].partition(" ")
    path = rest.rpartition(" ")[0]
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return Seen(method.upper(), path, headers)
