"""Wake a topic's waiting subscribers once per short window instead of once per event.

In a busy room every published event wakes every subscriber's task, and each of them writes
one frame: a thousand clients and a hundred messages a second are a hundred thousand task
wake-ups and socket writes. With a window (``Broker.subscribe(..., coalesce=seconds)``) the
first event of a window schedules one timer for the whole topic; when it fires, each
subscriber that waited wakes once and takes everything that arrived meanwhile, so it writes
one frame for many events. The price is at most the window in added latency; a quiet room
pays it once per message and gains nothing, a busy one writes (and wakes) far less. This is
what Centrifugo's ``write_delay`` and Nagle's algorithm do for the same reason.

Only the wake-up waits: events still enter each bounded mailbox at once, so a slow
subscriber is dropped as soon as its mailbox overflows; a drop, a close or a mailbox half
full wakes at once, so a window never makes a reader that keeps up look slow.
"""

from __future__ import annotations

import asyncio
from typing import Protocol


class Waking(Protocol):
    def _wake_now(self) -> None: ...


class Coalescer:
    """One topic's pending wake-ups for one window length, with at most one timer."""

    __slots__ = ("_handle", "_loop", "_pending", "delay")

    def __init__(self, delay: float, loop: asyncio.AbstractEventLoop) -> None:
        self.delay = delay
        self._loop = loop
        self._pending: list[Waking] = []
        self._handle: asyncio.TimerHandle | None = None

    def wake_later(self, subscription: Waking) -> None:
        """Wake ``subscription`` when the current window ends (it asks once per window)."""
        self._pending.append(subscription)
        if self._handle is None:
            self._handle = self._loop.call_later(self.delay, self._flush)

    def _flush(self) -> None:
        self._handle = None
        pending, self._pending = self._pending, []
        for subscription in pending:
            subscription._wake_now()

    def close(self) -> None:
        """The topic has no subscribers left here: drop the timer (nobody is waiting)."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self._pending = []
