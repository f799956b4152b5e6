"""Helpers shared by the benchmarks: processes, CPU pinning, RSS, raw loopback HTTP clients.

Benchmarks run the server in its own process (pinned to one core when there are two) and
drive it from the parent, so the load generator never competes with the server for its core.
Everything here is stdlib (plus uvloop for the client when it is installed).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import multiprocessing
import os
import resource
import signal
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

HOST = "127.0.0.1"


# -- processes --------------------------------------------------------------------------------


def raise_nofile() -> int:
    """Raise this process's open-file limit to the hard limit; return the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = 1 << 20
    if soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def cpu_plan() -> tuple[int | None, int | None]:
    """(server cpu, client cpu): separate cores when there are at least two, else unpinned."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return None, None
    return cpus[0], cpus[1]


def pin(cpu: int | None, pid: int = 0) -> None:
    if cpu is not None:
        with contextlib.suppress(OSError):
            os.sched_setaffinity(pid, {cpu})


def rss_kib(pid: int) -> int:
    """Resident set size of ``pid`` in KiB (VmRSS from /proc)."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of ``pid`` so far (from /proc/<pid>/stat)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class ServerProcess:
    """A server started with ``target(conn, *args)`` in a fresh (spawned) process.

    The target must send ``("ready", port)`` on ``conn`` once it accepts connections, or
    ``("error", text)``. ``stop`` always ends the process: SIGTERM, then SIGKILL.
    """

    def __init__(self, target: Callable[..., None], *args: Any, start_timeout: float = 60.0):
        context = multiprocessing.get_context("spawn")
        self._conn, child_conn = context.Pipe(duplex=False)
        self.process = context.Process(target=target, args=(child_conn, *args), daemon=True)
        self.process.start()
        child_conn.close()
        self.port = self._wait_ready(start_timeout)

    @property
    def pid(self) -> int:
        assert self.process.pid is not None
        return self.process.pid

    def _wait_ready(self, timeout: float) -> int:
        try:
            if not self._conn.poll(timeout):
                raise RuntimeError(f"server not ready after {timeout} s")
            kind, value = self._conn.recv()
        except EOFError:
            self.stop()
            raise RuntimeError(
                f"server exited during startup (code {self.process.exitcode})"
            ) from None
        except BaseException:
            self.stop()
            raise
        if kind != "ready":
            self.stop()
            raise RuntimeError(f"server failed to start: {value}")
        return int(value)

    def receive(self, within: float) -> tuple[str, Any]:
        """The next message the child sends after ``ready`` (raises TimeoutError)."""
        if not self._conn.poll(within):
            raise TimeoutError(f"no message from the child in {within} s")
        return self._conn.recv()  # type: ignore[no-any-return]

    def signal(self, signum: int = signal.SIGTERM) -> None:
        if self.process.is_alive():
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signum)

    def wait_exit(self, timeout: float) -> bool:
        self.process.join(timeout)
        return not self.process.is_alive()

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, wait ``timeout``, then SIGKILL. Safe to call more than once."""
        if self.process.is_alive():
            self.signal(signal.SIGTERM)
            self.process.join(timeout)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(5)
        self._conn.close()

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


# -- raw HTTP -----------------------------------------------------------------------------------


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


# -- many SSE connections -----------------------------------------------------------------------


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


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop when installed (a cheaper load generator), else the default loop."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def send_safely(conn: Connection, message: tuple[str, Any]) -> None:
    with contextlib.suppress(OSError, ValueError):
        conn.send(message)
