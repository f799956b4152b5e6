"""Bytes to disk once, hashed on the way, off the event loop, in bounded memory.

A ``Sink`` takes the chunks of a body as they arrive (``write`` is a cheap copy into a
buffer), and once ``FLUSH_BYTES`` have gathered hands the buffer to worker threads, one
that writes it and one that updates the hashes (hashlib and os.write release the GIL),
while the event loop goes on receiving into a fresh buffer (double buffering: at most two
buffers per upload, whatever the file's size). The
bytes are written exactly once, where they will stay: no spooled copy, no second pass.
"""

from __future__ import annotations

import asyncio
import errno
import hashlib
import os
from typing import Protocol

from .errors import InsufficientStorage
from .validation import SNIFF_BYTES

FLUSH_BYTES = 1 << 20
"""Bytes gathered before a write: big enough that thread hand-offs cost nothing."""


class Hash(Protocol):
    def update(self, data: bytes | bytearray | memoryview, /) -> None: ...

    def digest(self) -> bytes: ...

    def hexdigest(self) -> str: ...

    def copy(self) -> Hash: ...


class Sink:
    """Appends to an open file descriptor from ``offset`` on (the file is cut there first).

    ``head`` holds the file's first ``SNIFF_BYTES`` bytes (pass the bytes already on disk
    as ``head`` when appending to a short file); ``hashes`` are updated with every byte
    written through this sink. ``close`` or ``abort`` must be awaited in the end.
    """

    def __init__(
        self, fd: int, *, offset: int = 0, hashes: tuple[Hash, ...] = (), head: bytes = b""
    ) -> None:
        self.fd = fd
        self.offset = offset
        """Bytes in the file once everything written so far is flushed."""
        self.written = 0
        """Bytes written through this sink."""
        self.hashes = hashes
        self.head = bytearray(head[:SNIFF_BYTES])
        self._buffer = bytearray()
        self._pending: list[asyncio.Future[None]] = []
        os.ftruncate(fd, offset)
        os.lseek(fd, offset, os.SEEK_SET)

    def write(self, data: bytes | memoryview) -> None:
        """Take ``data`` (copied; the caller may reuse its buffer)."""
        if len(self.head) < SNIFF_BYTES:
            self.head += data[: SNIFF_BYTES - len(self.head)]
        self._buffer += data
        self.written += len(data)
        self.offset += len(data)

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    async def drain(self) -> None:
        """Start writing the buffer if it is full; waits only for the previous write."""
        if len(self._buffer) >= FLUSH_BYTES:
            await self._start_flush()

    async def _start_flush(self) -> None:
        await self._wait_pending()
        buffer, self._buffer = self._buffer, bytearray()
        loop = asyncio.get_running_loop()
        self._pending = [loop.run_in_executor(None, self._write, buffer)]
        if self.hashes:  # hashing and writing the same buffer at once, in two threads
            self._pending.append(loop.run_in_executor(None, self._hash, buffer))

    async def _wait_pending(self) -> None:
        """The writes in progress, finished (they stay pending if we are cancelled, so
        that ``_settle`` still waits for them before the file is closed)."""
        if not self._pending:
            return
        await asyncio.wait(self._pending)  # never cancels them
        jobs, self._pending = self._pending, []
        for job in jobs:
            error = job.exception()
            if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT):
                raise InsufficientStorage("the server is out of disk space") from error
            if error is not None:
                raise error

    def _hash(self, buffer: bytearray) -> None:
        for digest in self.hashes:
            digest.update(buffer)

    def _write(self, buffer: bytearray) -> None:
        view = memoryview(buffer)
        while view:
            written = os.write(self.fd, view)
            view = view[written:]

    async def close(self) -> None:
        """Write what is buffered and close the file (also when cancelled meanwhile)."""
        try:
            if self._buffer:
                await self._start_flush()
            await self._wait_pending()
        finally:
            await self._settle()
            os.close(self.fd)

    async def abort(self) -> None:
        """Drop what is buffered, let a write in progress end, and close the file."""
        self._buffer = bytearray()
        await self._settle()
        os.close(self.fd)

    async def _settle(self) -> None:
        """Whatever happens to the caller, the writes in progress end before the fd closes."""
        jobs, self._pending = self._pending, []
        if jobs:
            await asyncio.wait(jobs)
            for job in jobs:
                job.exception()  # retrieved: the caller already has its error


def sha256() -> Hash:
    return hashlib.sha256()


def new_hash(name: str) -> Hash:
    """A fresh hash by its hashlib name."""
    return hashlib.new(name)
