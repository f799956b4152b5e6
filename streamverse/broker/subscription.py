"""One consumer's bounded mailbox: what it missed first, then live events, in id order."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from .coalesce import Coalescer
from .events import Event, SubscriberDropped


class Subscription:
    """Events for one consumer, read with ``async for`` (or ``batches``/``events``).

    A bounded mailbox (a list with a single waiter, cheaper than ``asyncio.Queue`` on the
    fan-out path). Only the ``Broker`` fills it; when it is full the subscriber is dropped,
    so a slow reader never holds up the publisher or anyone else. Slotted: thousands are
    alive at once, and every delivery touches them.
    """

    __slots__ = (
        "_allowance",
        "_closed",
        "_coalescer",
        "_dropped",
        "_events",
        "_idle",
        "_last_activity",
        "_limit",
        "_max_pending",
        "_timer",
        "_waiter",
        "_wake_queued",
        "last_id",
        "newest_at_start",
        "topic",
    )

    def __init__(self, topic: str, max_pending: int, coalescer: Coalescer | None = None) -> None:
        self.topic = topic
        self.last_id: int | None = None
        """Id of the last event handed out; at first, the topic's newest id (or ``since``)."""
        self.newest_at_start: int | None = None
        """The topic's newest id when the subscription began (what a snapshot taken then
        is as new as)."""
        self._max_pending = max_pending
        self._allowance = 0  # the replayed backlog does not count against the limit
        self._limit = max_pending  # max_pending + allowance, kept summed for delivery
        self._events: list[Event] = []  # swapped for a new list on each read: no copy
        self._waiter: asyncio.Future[None] | None = None
        self._dropped: str | None = None
        self._closed = False
        self._timer: asyncio.TimerHandle | None = None
        self._idle = False
        self._last_activity = 0.0
        self._coalescer = coalescer  # None: a delivery wakes the consumer at once
        self._wake_queued = False

    def pending(self) -> int:
        """Events waiting in this subscriber's mailbox (how far behind it is)."""
        return len(self._events)

    def holds(self, types: frozenset[str]) -> bool:
        """Whether an event of one of these types is waiting (say, a replay that reaches a
        feed's end)."""
        return any(event.type in types for event in self._events)

    @property
    def active(self) -> bool:
        return self._dropped is None and not self._closed

    @property
    def dropped(self) -> str | None:
        """Why the broker dropped this subscriber, or None."""
        return self._dropped

    def close(self) -> None:
        """End the subscription: the consumer gets what is queued, then iteration stops."""
        self._closed = True
        self._wake()

    # -- filled by the Broker -----------------------------------------------------------

    def _deliver(self, event: Event) -> bool:
        """Queue one live event; False (and the subscriber is dropped) when it is full."""
        if self._dropped is not None or self._closed:
            return False
        if len(self._events) >= self._limit:
            self._drop(f"slow consumer: more than {self._max_pending} events behind")
            return False
        self._events.append(event)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            coalescer = self._coalescer
            # Half full wakes at once: a window must never make a reader look slow.
            if coalescer is None or coalescer.at_once or 2 * len(self._events) >= self._limit:
                waiter.set_result(None)
            elif not self._wake_queued:
                self._wake_queued = True
                coalescer.wake_later(self)
        return True

    def _begin(self, since: int, replay: list[Event]) -> None:
        """Put the events missed before ``since`` ahead of the live ones delivered while
        history was being read, skipping any live event the replay already holds."""
        self.last_id = since
        live = self._events
        newest = replay[-1].id if replay else since
        self.newest_at_start = newest
        self._events = replay + [event for event in live if event.id > newest]
        self._allowance = len(replay)
        self._limit = self._max_pending + self._allowance

    def _drop(self, reason: str) -> None:
        self._dropped = reason
        self._wake()

    def _wake_now(self) -> None:
        """The coalescing window is over (``coalesce.Coalescer``)."""
        self._wake_queued = False
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # -- read by the consumer -----------------------------------------------------------

    def __aiter__(self) -> AsyncIterator[Event]:
        return self._only_events()

    async def _only_events(self) -> AsyncIterator[Event]:
        async for event in self.events():
            if event is not None:
                yield event

    async def events(self, idle_after: float | None = None) -> AsyncIterator[Event | None]:
        """Yield events one by one; ``None`` after ``idle_after`` quiet seconds (see batches)."""
        async for batch in self.batches(idle_after):
            if batch is None:
                yield None
                continue
            for event in batch:
                yield event

    async def batches(self, idle_after: float | None = None) -> AsyncIterator[list[Event] | None]:
        """Yield everything queued at once, so a consumer that fell behind catches up in one
        write.

        With ``idle_after``, also yield ``None`` after that many quiet seconds: the consumer's
        cue for a keep-alive. One timer per subscriber is re-armed lazily, so a busy stream
        costs no timer work per event. Raises ``SubscriberDropped`` after the queued events
        when the subscriber was dropped; returns when the subscription is closed.
        """
        loop = asyncio.get_running_loop()
        try:
            while True:
                if self._events:
                    yield self._take()
                    continue
                if self._dropped is not None:
                    raise SubscriberDropped(self._dropped, self.last_id)
                if self._closed:
                    return
                if idle_after is not None and self._timer is None:
                    self._last_activity = loop.time()
                    self._timer = loop.call_later(idle_after, self._check_idle, loop, idle_after)
                await self._wait(loop)
                if self._idle:
                    self._idle = False
                    yield None
                if idle_after is not None:
                    self._last_activity = loop.time()
        finally:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None

    async def next_batch(self) -> list[Event]:
        """Everything queued, waiting for at least one event: ``batches()`` without the
        keep-alive cues and without an async generator in between (a chat connection calls
        this once per frame). ``[]`` once the subscription is closed; raises
        ``SubscriberDropped`` after the queued events when the subscriber was dropped."""
        while not self._events:
            if self._dropped is not None:
                raise SubscriberDropped(self._dropped, self.last_id)
            if self._closed:
                return []
            # The future awaited right here, not through ``_wait``: one coroutine less to
            # resume per frame. A finished waiter left behind is never woken again.
            waiter = self._waiter = asyncio.get_running_loop().create_future()
            await waiter
        self._waiter = None
        return self._take()

    async def _wait(self, loop: asyncio.AbstractEventLoop) -> None:
        """Until a delivery, a drop, a close (or an idle cue) wakes this consumer."""
        self._waiter = loop.create_future()
        try:
            await self._waiter
        finally:
            self._waiter = None

    def _take(self) -> list[Event]:
        batch, self._events = self._events, []
        if self._allowance:  # the replayed backlog is out: the normal limit again
            self._allowance = 0
            self._limit = self._max_pending
        self.last_id = batch[-1].id
        return batch

    def _check_idle(self, loop: asyncio.AbstractEventLoop, idle_after: float) -> None:
        quiet_for = loop.time() - self._last_activity
        if quiet_for >= idle_after and self._waiter is not None and not self._waiter.done():
            self._timer = None
            self._idle = True
            self._waiter.set_result(None)
        else:
            delay = max(idle_after - quiet_for, idle_after / 10)
            self._timer = loop.call_later(delay, self._check_idle, loop, idle_after)
