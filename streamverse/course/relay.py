"""A TCP relay that a check controls: cut connections, hold new ones, point elsewhere.

Checks put it between the learner's client and a real server to do what a flaky network,
a load balancer or a restarting server does, at exactly the moment the check chooses.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class RecordedRequest:
    """A request head that passed through: when (``time.monotonic()``) and its headers."""

    at: float
    headers: dict[str, str]


class Relay:
    """A TCP relay between the learner's client and the server, under the check's control.

    ``cut()`` closes every connection (as a flaky network or a load balancer would),
    ``hold()`` keeps new connections waiting until ``release()``, ``upstream_port`` can
    point at a restarted server, ``refuse()`` turns new connections away. Every request
    head that passes through is recorded, so the check can see the client's headers.
    """

    def __init__(self, upstream_port: int, name: str = "check-relay") -> None:
        self.upstream_port = upstream_port
        self.requests: list[RecordedRequest] = []
        self.attempts: list[float] = []
        """When each connection was accepted (``time.monotonic()``), refused ones included."""
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=name, daemon=True)
        self._writers: set[asyncio.StreamWriter] = set()
        self._handlers: set[asyncio.Task[Any]] = set()
        self._refusing = False
        self._server: asyncio.Server | None = None
        self._gate: asyncio.Event | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Relay:
        self._thread.start()
        self._call(self._start())
        return self

    async def _start(self) -> None:
        self._gate = asyncio.Event()
        self._gate.set()
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    def _call(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(10)

    def hold(self) -> None:
        self._call(self._set_gate(False))

    def release(self) -> None:
        self._call(self._set_gate(True))

    async def _set_gate(self, open: bool) -> None:
        assert self._gate is not None
        if open:
            self._gate.set()
        else:
            self._gate.clear()

    def refuse(self, refusing: bool = True) -> None:
        """Close new connections at once (or, with False, accept them again)."""
        self._refusing = refusing
        if refusing:
            self.release()

    def cut(self) -> None:
        self._call(self._cut())

    async def _cut(self) -> None:
        for writer in list(self._writers):
            writer.close()

    def close(self) -> None:
        if not self._thread.is_alive():
            return
        self._refusing = True
        with contextlib.suppress(Exception):
            self._call(self._close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        if not self._thread.is_alive():
            self._loop.close()

    async def _close(self) -> None:
        if self._server is not None:
            self._server.close()
        self._refusing = True
        assert self._gate is not None
        self._gate.set()  # held connections move on, see that we refuse, and close
        await self._cut()
        if self._handlers:
            _, pending = await asyncio.wait(set(self._handlers), timeout=5)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        handler = asyncio.current_task()
        assert handler is not None
        self._handlers.add(handler)
        self.attempts.append(time.monotonic())
        upstream: asyncio.StreamWriter | None = None
        self._writers.add(writer)
        try:
            assert self._gate is not None
            await self._gate.wait()
            if self._refusing or writer.is_closing():
                return
            upstream_reader, upstream = await asyncio.open_connection(
                "127.0.0.1", self.upstream_port
            )
            self._writers.add(upstream)
            pipes = [
                asyncio.create_task(self._pipe(reader, upstream, record=True)),
                asyncio.create_task(self._pipe(upstream_reader, writer)),
            ]
            try:
                await asyncio.wait(pipes, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for pipe in pipes:
                    pipe.cancel()
                await asyncio.gather(*pipes, return_exceptions=True)
        except OSError:
            pass
        except asyncio.CancelledError:
            # Only _close cancels a handler. Python 3.11's start_server would log a handler
            # task that ends cancelled as an error (3.12 fixed that), so end it normally.
            pass
        finally:
            self._handlers.discard(handler)
            for end in (writer, upstream):
                if end is not None:
                    self._writers.discard(end)
                    end.close()

    async def _pipe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, record: bool = False
    ) -> None:
        pending = b""
        with contextlib.suppress(OSError):
            while data := await reader.read(65536):
                if record:
                    pending = self._record(pending + data)
                writer.write(data)
                await writer.drain()

    def _record(self, data: bytes) -> bytes:
        """Parse complete request heads (the client only sends GETs); return the rest."""
        while b"\r\n\r\n" in data:
            head, data = data.split(b"\r\n\r\n", 1)
            headers = {}
            for line in head.decode("latin-1").split("\r\n")[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            self.requests.append(RecordedRequest(time.monotonic(), headers))
        return data
