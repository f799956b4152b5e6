"""Many raw SSE connections in one process: the benchmarks' load generator.

Each connection is a bare ``asyncio.Protocol`` that counts frames and spots the end
marker, so one client core can hold ten thousand feeds and still keep up with a server
that delivers tens of thousands of events per second. It parses nothing else.
"""

from __future__ import annotations

import asyncio
import time

from _http import HOST


class SSEConnection(asyncio.Protocol):
    """One raw SSE client: counts ``\\n\\n``-terminated frames and spots two markers.

    No parsing beyond that: a frame count, whether ``event: end`` (the benchmark's last
    event) or ``event: dropped`` arrived, and when. Chunked transfer framing does not
    disturb the count: chunk lines end in ``\\r\\n`` and never form ``\\n\\n``.
    """

    END = b"event: end\n"
    DROPPED = b"event: dropped\n"

    def __init__(self, pool: SSEPool) -> None:
        self.pool = pool
        self.transport: asyncio.Transport | None = None
        self.head = b""
        self.status = 0
        self.frames = 0
        self.ended_at: float | None = None
        self.outcome: str | None = None
        """While watching: ``end``, ``dropped`` or ``closed``, whichever came first."""
        self.closed = False
        self.ready = False
        self._last_newline = False
        self._tail = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        transport.write(self.pool.request)  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        if not self.status:
            self.head += data
            end = self.head.find(b"\r\n\r\n")
            if end < 0:
                return
            self.status = int(self.head[9:12])
            data = self.head[end + 4 :]
            self.head = b""
            if self.status != 200:
                self.pool.failed += 1
            if not data:
                self._check_ready()
                return
        count = data.count(b"\n\n")
        if self._last_newline and data[0] == 10:
            count += 1
        self._last_newline = data[-1] == 10
        self.frames += count
        if self.pool.watching and self.ended_at is None:
            seam = self._tail + data[:16]
            if self.END in data or self.END in seam:
                self._finish("end")
            elif self.DROPPED in data or self.DROPPED in seam:
                self._finish("dropped")
            self._tail = data[-16:]
        if not self.ready:
            self._check_ready()

    def _finish(self, outcome: str) -> None:
        self.ended_at = time.monotonic()
        self.outcome = outcome
        self.pool.finished_one()

    def _check_ready(self) -> None:
        if self.status == 200 and self.frames >= self.pool.initial_frames and not self.ready:
            self.ready = True
            self.pool.ready_one(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.pool.closed_one(self)


class SSEPool:
    """N SSE connections to ``path`` with counters the benchmark waits on."""

    def __init__(self, port: int, path: str, initial_frames: int = 0) -> None:
        self.port = port
        self.request = (
            f"GET {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nAccept: text/event-stream\r\n\r\n"
        ).encode()
        self.initial_frames = initial_frames
        self.connections: list[SSEConnection] = []
        self.failed = 0
        self.n_ready = 0
        self.n_closed = 0
        self.n_finished = 0
        self.watching = False
        self._all_closed = asyncio.Event()
        self._all_finished = asyncio.Event()
        self._ready_waiters: dict[SSEConnection, asyncio.Future[None]] = {}
        self.last_closed_at = 0.0

    async def open(self, count: int, concurrency: int = 200, within: float = 120.0) -> None:
        """Open ``count`` more connections, at most ``concurrency`` still waiting to be ready.

        A connection is ready when the response headers and ``initial_frames`` frames have
        arrived, so no more than ``concurrency`` requests are ever in flight on the server.
        """
        loop = asyncio.get_running_loop()
        gate = asyncio.Semaphore(concurrency)

        async def one() -> None:
            async with gate:
                _, protocol = await loop.create_connection(
                    lambda: SSEConnection(self), HOST, self.port
                )
                self.connections.append(protocol)
                if not protocol.ready:
                    waiter = loop.create_future()
                    self._ready_waiters[protocol] = waiter
                    await waiter

        outcomes = await asyncio.wait_for(
            asyncio.gather(*(one() for _ in range(count)), return_exceptions=True), within
        )
        errors = [outcome for outcome in outcomes if isinstance(outcome, BaseException)]
        if self.failed or errors:
            statuses = sorted({c.status for c in self.connections if c.status != 200})
            raise RuntimeError(
                f"{len(errors)} of {count} SSE connections failed (HTTP status {statuses}); "
                f"first error: {errors[0] if errors else None!r}"
            )

    def ready_one(self, connection: SSEConnection) -> None:
        self.n_ready += 1
        waiter = self._ready_waiters.pop(connection, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def closed_one(self, connection: SSEConnection) -> None:
        self.n_closed += 1
        self.last_closed_at = time.monotonic()
        waiter = self._ready_waiters.pop(connection, None)
        if waiter is not None and not waiter.done():
            waiter.set_exception(ConnectionError("closed before the stream started"))
        if self.watching and connection.ended_at is None:
            connection._finish("closed")
        if self.n_closed >= len(self.connections):
            self._all_closed.set()

    def finished_one(self) -> None:
        self.n_finished += 1
        if self.n_finished >= len(self.connections):
            self._all_finished.set()

    def frames(self) -> int:
        return sum(connection.frames for connection in self.connections)

    def watch_for_end(self) -> None:
        """From now on, note when each connection sees ``event: end`` (or is dropped/closed)."""
        self.n_finished = 0
        self._all_finished.clear()
        for connection in self.connections:
            connection.ended_at = None
            connection.outcome = None
            connection._tail = b""
        self.watching = True

    async def wait_finished(self, within: float) -> bool:
        try:
            await asyncio.wait_for(self._all_finished.wait(), within)
        except TimeoutError:
            return False
        finally:
            self.watching = False
        return True

    async def wait_closed(self, within: float) -> bool:
        if self.n_closed >= len(self.connections):
            return True
        try:
            await asyncio.wait_for(self._all_closed.wait(), within)
        except TimeoutError:
            return False
        return True

    async def close(self, within: float = 30.0) -> None:
        """Close every connection from the client side and wait until they are gone."""
        for connection in self.connections:
            if connection.transport is not None and not connection.closed:
                connection.transport.close()
        await self.wait_closed(within)
