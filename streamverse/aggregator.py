"""Turns changes into analytics events: coalesced, and refreshed periodically while watched.

Presence, chat activity, likes and status changes call ``mark(stream_id)``. One task wakes,
waits ``interval`` so a burst of changes becomes one event, then publishes a snapshot for
each changed stream and one for the platform. Every ``snapshot_interval`` it also publishes
for streams someone is watching, so time-based numbers (the chat rate) decay visibly.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from .analytics import stream_snapshot_from_state
from .errors import NotFound
from .global_stats import TOPIC as GLOBAL_TOPIC
from .global_stats import global_snapshot
from .streams import topic

logger = logging.getLogger("streamverse.aggregator")


class Aggregator:
    def __init__(self, state: Any, interval: float, snapshot_interval: float) -> None:
        self._state = state
        self.interval = interval
        self.snapshot_interval = snapshot_interval
        self._dirty: set[str] = set()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._last_global: dict[str, Any] | None = None

    def mark(self, stream_id: str) -> None:
        """Something about this stream changed; an event follows within ``interval``."""
        self._dirty.add(stream_id)
        self._wake.set()

    def mark_global(self) -> None:
        """Something platform-wide changed (a stream went live); stats follow."""
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="streamverse-aggregator")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def publish_stream(self, stream_id: str) -> None:
        """Publish one stream's snapshot now (used before a stream's feeds are closed)."""
        self._dirty.discard(stream_id)
        try:
            snapshot = await stream_snapshot_from_state(self._state, stream_id)
        except NotFound:
            return
        await self._state.broker.publish(
            topic(stream_id, "analytics"), "analytics", snapshot.model_dump(mode="json")
        )

    async def publish_global(self) -> None:
        """Publish the platform's numbers, unless they are the same as last time."""
        snapshot = (await global_snapshot(self._state)).model_dump(mode="json")
        if snapshot != self._last_global:
            self._last_global = snapshot
            await self._state.broker.publish(GLOBAL_TOPIC, "stats", snapshot)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        next_refresh = loop.time() + self.snapshot_interval
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), max(0.0, next_refresh - loop.time()))
            self._wake.clear()
            await asyncio.sleep(self.interval)  # coalesce a burst into one event
            changed, self._dirty = self._dirty, set()
            if loop.time() >= next_refresh:
                next_refresh = loop.time() + self.snapshot_interval
                changed |= self._watched()
            try:
                for stream_id in sorted(changed):
                    await self.publish_stream(stream_id)
                await self.publish_global()
            except Exception:  # keep the loop alive; the next change retries
                logger.exception("publishing analytics failed")

    def _watched(self) -> set[str]:
        """Streams with viewers, or with chat in the last minute (their rate is decaying)."""
        return set(self._state.presence.watched_streams()) | self._state.activity.active_streams()
