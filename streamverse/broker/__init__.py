"""Publish/subscribe with per-topic event ids, bounded history and bounded mailboxes.

Every fan-out in StreamVerse goes through the ``Broker``: comments, chat, analytics,
progress. The facade does the subscriber side once, for every backend: each subscriber's
bounded mailbox, dropping the slow ones with a reason, replaying what a ``since`` id
missed (or the reset marker when history cannot bridge the gap), subscriber counts, and
closing the gap between reading history and receiving live events. A backend, chosen by
URL scheme and imported lazily, is only the shared medium (``backends/base.py``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from .backends.base import Backend, Deliver
from .coalesce import Coalescer
from .events import RESET, Event, SubscriberDropped
from .subscription import Subscription
from .topics import History, Topic

__all__ = ["RESET", "Broker", "Event", "SubscriberDropped", "Subscription", "Topic"]


class _Local:
    """This process's subscribers to one topic, and whether the backend delivers it yet."""

    __slots__ = ("coalescers", "ready", "subscribers")

    def __init__(self) -> None:
        self.subscribers: set[Subscription] = set()
        self.ready = asyncio.Event()
        self.coalescers: dict[float, Coalescer] = {}

    def coalescer(self, delay: float) -> Coalescer | None:
        if delay <= 0:
            return None
        coalescer = self.coalescers.get(delay)
        if coalescer is None:
            loop = asyncio.get_running_loop()
            coalescer = self.coalescers[delay] = Coalescer(delay, loop)
        return coalescer


class Broker:
    def __init__(
        self,
        url: str = "memory://",
        *,
        history_size: int = 1000,
        snapshot_history_size: int = 50,
        queue_size: int = 1000,
    ) -> None:
        self.url = url
        self.queue_size = queue_size
        self._keep = {History.events: history_size, History.snapshots: snapshot_history_size}
        self._local: dict[str, _Local] = {}
        self._closed = False
        self.backend = backend_for(url, self._deliver)

    async def connect(self) -> None:
        self._closed = False
        await self.backend.connect()

    async def close(self) -> None:
        """End every subscription (their iterators finish) and refuse new ones."""
        self._closed = True
        for local in self._local.values():
            for subscription in local.subscribers:
                subscription.close()
        await self.backend.close()

    async def publish(self, topic: Topic, type: str, data: Any) -> Event:
        """Store the event (it gets the topic's next id) and deliver it to every subscriber."""
        return await self.backend.publish(topic.name, self._keep[topic.history], type, data)

    @asynccontextmanager
    async def subscribe(
        self, topic: Topic, since: int | None = None, *, coalesce: float = 0.0
    ) -> AsyncIterator[Subscription]:
        """``async with broker.subscribe(topic, since) as subscription: async for ...``

        Without ``since``: events published from now on. With it: first every event after
        ``since`` from history, or one ``RESET`` event when history cannot bridge the gap.
        ``coalesce`` (seconds): wake this subscriber at most once per such window, with all
        that arrived meanwhile (``coalesce.Coalescer``); 0 wakes it for every event.
        """
        name = topic.name
        local = self._local.get(name)
        if local is None:
            local = self._local[name] = _Local()
        subscription = Subscription(name, self.queue_size, local.coalescer(coalesce))
        local.subscribers.add(subscription)
        try:
            if len(local.subscribers) == 1 and not local.ready.is_set():
                await self.backend.listen(name)  # live events now reach the mailbox...
                local.ready.set()
            else:
                await local.ready.wait()
            # ...so reading history second leaves no gap; Subscription._begin drops doubles.
            history = await self.backend.history(name, self._keep[topic.history], since)
            start = history.newest if since is None else since
            replay = history.after
            if replay is None:
                marker = {"reason": "history", "last_id": history.newest}
                replay = [Event(name, history.newest, RESET, marker)]
            subscription._begin(start, replay)
            del history, replay  # the subscription may live for hours: keep nothing else
            if self._closed:
                subscription.close()
            yield subscription
        finally:
            local.subscribers.discard(subscription)
            if not local.subscribers and self._local.get(name) is local:
                del self._local[name]
                for coalescer in local.coalescers.values():
                    coalescer.close()
                await self.backend.unlisten(name)
                if name in self._local:  # someone subscribed again meanwhile
                    await self.backend.listen(name)

    async def last_id(self, topic: Topic) -> int:
        """Id of the topic's newest event (below its first id when it has none)."""
        async with self.subscribe(topic) as subscription:
            return subscription.last_id or 0

    def subscriber_count(self, topic: Topic) -> int:
        """Subscribers in this process."""
        local = self._local.get(topic.name)
        return 0 if local is None else len(local.subscribers)

    def _deliver(self, event: Event) -> None:
        local = self._local.get(event.topic)
        if local is None:
            return
        coalescers = local.coalescers.values()  # none, or one per window length
        for coalescer in coalescers:
            coalescer.arrived()
        dropped = None
        for subscription in local.subscribers:
            if not subscription._deliver(event):
                dropped = [subscription] if dropped is None else [*dropped, subscription]
        for coalescer in coalescers:
            coalescer.delivered()
        if dropped is not None:
            local.subscribers.difference_update(dropped)


def backend_for(url: str, deliver: Deliver) -> Backend:
    scheme = url.split("://", 1)[0]
    if scheme == "memory":
        from .backends.memory import MemoryBackend

        return MemoryBackend(deliver)
    raise ValueError(
        f"unsupported broker URL scheme {scheme!r}; use memory:// (redis:// is planned)"
    )
