"""Ends a body read that stalls, or that another request asks to end, promptly and safely.

A client whose network died without a word leaves its request waiting for bytes forever
(uvicorn has no body read timeout), holding its temporary file, or its tus upload's lock.
A ``Watchdog`` wraps the read in ``asyncio.timeout``, which it moves to "now" when the
body has been idle for ``idle`` seconds or when ``stop()`` is called (a newer request for
the same tus upload, see ``locks``). The read then ends with ``Stopped``, and the caller
keeps what it had received. The hot loop only stores a float per chunk (``touch``); one
timer per upload checks it a few times per ``idle``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class Stopped(Exception):
    """The read was cut: ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Watchdog:
    def __init__(self, idle: float) -> None:
        self.idle = idle
        self._loop = asyncio.get_running_loop()
        self.last = self._loop.time()
        self._reason: str | None = None
        self._timeout: asyncio.Timeout | None = None
        self._timer: asyncio.TimerHandle | None = None

    def touch(self) -> None:
        """Bytes arrived."""
        self.last = self._loop.time()

    def stop(self, reason: str) -> None:
        """Ask the guarded read to end now (from any task on this loop)."""
        if self._reason is None:
            self._reason = reason
        self._loop.call_soon(self._check)

    @asynccontextmanager
    async def guard(self) -> AsyncIterator[Watchdog]:
        """``async with watchdog.guard():`` read the body; raises ``Stopped`` when cut."""
        self.touch()
        try:
            async with asyncio.timeout(None) as timeout:
                self._timeout = timeout
                self._arm()
                if self._reason is not None:
                    self._check()
                yield self
        except TimeoutError:
            if self._reason is None:
                raise  # not ours
            raise Stopped(self._reason) from None
        finally:
            self._timeout = None
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None

    def _arm(self) -> None:
        self._timer = self._loop.call_later(self.idle / 4, self._tick)

    def _tick(self) -> None:
        if self._loop.time() - self.last >= self.idle and self._reason is None:
            self._reason = f"no bytes for {self.idle:g} s: the connection is considered lost"
        self._check()
        if self._reason is None:
            self._arm()

    def _check(self) -> None:
        timeout = self._timeout
        if self._reason is not None and timeout is not None and not timeout.expired():
            timeout.reschedule(self._loop.time())
