"""Chat and comment rate per stream over a sliding 60-second window.

Kept as one counter per second (at most 60 per stream), so memory stays bounded however
busy a stream gets.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable


class Activity:
    def __init__(
        self,
        window_seconds: int = 60,
        clock: Callable[[], float] = time.monotonic,
        on_change: Callable[[str], None] | None = None,
    ) -> None:
        self.window = window_seconds
        self._clock = clock
        self._buckets: dict[str, deque[list[int]]] = {}
        self._on_change = on_change

    def record(self, stream_id: str, count: int = 1) -> None:
        now = int(self._clock())
        buckets = self._buckets.setdefault(stream_id, deque())
        if buckets and buckets[-1][0] == now:
            buckets[-1][1] += count
        else:
            buckets.append([now, count])
        self._prune(stream_id, now)
        if self._on_change is not None:
            self._on_change(stream_id)

    def per_minute(self, stream_id: str) -> float:
        """Messages in the last ``window`` seconds, scaled to a per-minute rate."""
        if stream_id not in self._buckets:
            return 0.0
        self._prune(stream_id, int(self._clock()))
        total = sum(count for _, count in self._buckets.get(stream_id, ()))
        return total * 60 / self.window

    def active_streams(self) -> set[str]:
        return set(self._buckets)

    def _prune(self, stream_id: str, now: int) -> None:
        buckets = self._buckets[stream_id]
        while buckets and buckets[0][0] <= now - self.window:
            buckets.popleft()
        if not buckets:
            del self._buckets[stream_id]
