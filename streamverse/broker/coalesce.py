"""Wake a busy topic's waiting subscribers once per short window instead of once per event.

In a busy room every published event wakes every subscriber's task, and each of them writes
one frame: a thousand clients and a hundred messages a second are a hundred thousand task
wake-ups and socket writes. With a window (``Broker.subscribe(..., coalesce=seconds)``) an
event that comes during or soon after the topic's last fan-out schedules one timer for the
whole topic; when it fires, each subscriber that waited wakes once and takes everything
that arrived meanwhile, so it writes one frame for many events.

A quiet topic pays no window. As in Nagle's algorithm (which sends at once when nothing is
in flight), an event wakes its readers at once when no timer is pending, no fan-out is
still running and the last one ended more than a window ago. A calm room's message goes out
without the window's delay; in a busy one, the posts that queued up behind a fan-out arrive
right after it ends, so they wait for the window and are gathered. (A leading edge that
only asked "is a timer pending?" sent the first event after every fan-out alone and halved
the gathering.) Centrifugo's ``write_delay`` batches for the same reason.

Only the wake-up waits: events still enter each bounded mailbox at once, so a slow
subscriber is dropped as soon as its mailbox overflows; a drop, a close or a mailbox half
full wakes at once, so a window never makes a reader that keeps up look slow.
"""

from __future__ import annotations

import asyncio
import math
from typing import Protocol


class Waking(Protocol):
    def _wake_now(self) -> None: ...


class Coalescer:
    """One topic's pending wake-ups for one window length, with at most one timer."""

    __slots__ = ("_handle", "_loop", "_pending", "_quiet_from", "at_once", "delay")

    def __init__(self, delay: float, loop: asyncio.AbstractEventLoop) -> None:
        self.delay = delay
        self._loop = loop
        self._pending: list[Waking] = []
        self._handle: asyncio.TimerHandle | None = None
        self._quiet_from = 0.0  # loop time from which the topic counts as quiet (inf: a
        # fan-out is under way, its readers woken and not all of them run yet)
        self.at_once = False
        """The event being delivered wakes its readers now (read by ``Subscription``)."""

    def arrived(self) -> None:
        """An event for this topic is about to be delivered: does it wait for a window?"""
        self.at_once = self._handle is None and self._loop.time() >= self._quiet_from

    def delivered(self) -> None:
        """The event is in every mailbox; if it woke its readers, watch their fan-out."""
        if self.at_once:
            self.at_once = False
            self._fanned_out_later()

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
        self._fanned_out_later()

    def _fanned_out_later(self) -> None:
        self._quiet_from = math.inf
        # Scheduled after the woken readers' tasks, so it runs once all of them have.
        self._loop.call_soon(self._fanned_out)

    def _fanned_out(self) -> None:
        self._quiet_from = self._loop.time() + self.delay

    def close(self) -> None:
        """The topic has no subscribers left here: drop the timer (nobody is waiting)."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self._pending = []
