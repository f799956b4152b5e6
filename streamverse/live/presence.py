"""Who is watching: distinct viewers connected to each stream's live endpoints right now.

Counted from real connections (each live response joins on open and leaves in ``finally``),
so the numbers analytics report are facts, not estimates.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager


class Presence:
    def __init__(self, on_change: Callable[[str], None] | None = None) -> None:
        self._connections: dict[str, Counter[str]] = {}
        self._peaks: dict[str, int] = {}
        self._on_change = on_change

    @contextmanager
    def watching(self, stream_id: str, viewer: str) -> Iterator[None]:
        """Count ``viewer`` as present on ``stream_id`` for the duration of the block.

        One viewer with two tabs open counts once; they leave when the last tab closes.
        """
        connections = self._connections.setdefault(stream_id, Counter())
        connections[viewer] += 1
        if connections[viewer] == 1:
            self._peaks[stream_id] = max(self._peaks.get(stream_id, 0), len(connections))
            self._changed(stream_id)
        try:
            yield
        finally:
            connections[viewer] -= 1
            if connections[viewer] == 0:
                del connections[viewer]
                if not connections:
                    self._connections.pop(stream_id, None)
                self._changed(stream_id)

    def viewers(self, stream_id: str) -> int:
        return len(self._connections.get(stream_id, ()))

    def peak(self, stream_id: str) -> int:
        return self._peaks.get(stream_id, 0)

    def watched_streams(self) -> list[str]:
        return list(self._connections)

    def _changed(self, stream_id: str) -> None:
        if self._on_change is not None:
            self._on_change(stream_id)
