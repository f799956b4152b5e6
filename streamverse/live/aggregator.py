"""Turns changes into events: coalesced, and refreshed periodically while watched.

Presence, chat activity, likes and status changes call ``mark(stream_id)``. One task wakes,
waits ``interval`` so a burst of changes becomes one flush, then calls ``flush`` with the
changed streams (the analytics domain's publisher: a snapshot per stream and one for the
platform). Every ``snapshot_interval`` it also flushes the streams ``watched()`` returns, so
time-based numbers (the chat rate) decay visibly.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

logger = logging.getLogger("streamverse.aggregator")

Flush = Callable[[set[str]], Awaitable[None]]


class Aggregator:
    def __init__(
        self, interval: float, snapshot_interval: float, watched: Callable[[], set[str]]
    ) -> None:
        self.interval = interval
        self.snapshot_interval = snapshot_interval
        self._watched = watched
        self._flush: Flush | None = None
        self._dirty: set[str] = set()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def mark(self, stream_id: str) -> None:
        """Something about this stream changed; a flush follows within ``interval``."""
        self._dirty.add(stream_id)
        self._wake.set()

    def mark_global(self) -> None:
        """Something platform-wide changed (a stream went live); a flush follows."""
        self._wake.set()

    def publish_with(self, flush: Flush) -> None:
        """Set what a flush does (``create_app`` passes the analytics publisher)."""
        self._flush = flush

    async def flush_now(self, stream_ids: set[str]) -> None:
        """Flush these streams at once (a stream's last numbers, before its feeds close)."""
        self._dirty -= stream_ids
        if self._flush is not None:
            await self._flush(stream_ids)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="streamverse-aggregator")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        next_refresh = loop.time() + self.snapshot_interval
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), max(0.0, next_refresh - loop.time()))
            self._wake.clear()
            await asyncio.sleep(self.interval)  # coalesce a burst into one flush
            changed, self._dirty = self._dirty, set()
            if loop.time() >= next_refresh:
                next_refresh = loop.time() + self.snapshot_interval
                changed |= self._watched()
            try:
                if self._flush is not None:
                    await self._flush(changed)
            except Exception:  # keep the loop alive; the next change retries
                logger.exception("publishing analytics failed")
