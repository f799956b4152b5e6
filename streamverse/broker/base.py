"""The broker contract: what every backend provides and every consumer can rely on."""

from __future__ import annotations

import asyncio
import json
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any

RESET = "reset"
"""Event type of the marker sent when a ``since`` id is no longer (or never was) in history."""


@dataclass(frozen=True, slots=True)
class Event:
    """One published event. ``id`` increases within its topic; ``data`` is JSON-ready."""

    topic: str
    id: int
    type: str
    data: Any
    cache: dict[str, bytes | str] = field(default_factory=dict, repr=False, compare=False)
    """Encodings of this event (JSON, SSE frame), made once and shared by every subscriber."""

    def json(self) -> str:
        text = self.cache.get("json")
        if text is None:
            text = self.cache["json"] = json.dumps(self.data, separators=(",", ":"))
        return text  # type: ignore[return-value]


class SubscriberDropped(Exception):
    """Raised to a subscriber that fell too far behind. Resume with ``since=last_id``."""

    def __init__(self, reason: str, last_id: int | None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.last_id = last_id


class Subscription:
    """Events for one consumer: first what it missed, then live ones, in id order.

    A bounded mailbox (a list with a single waiter, cheaper than ``asyncio.Queue`` on the
    fan-out path). Backends fill it with ``deliver``; when it is full the subscriber is
    dropped, so a slow reader never holds up the publisher or anyone else.
    """

    def __init__(self, topic: str, max_pending: int) -> None:
        self.topic = topic
        self.last_id: int | None = None
        """Id of the last event handed out; at first, the topic's newest id (or ``since``)."""
        self._max_pending = max_pending
        self._events: list[Event] = []  # swapped for a new list on each read: no copy
        self._waiter: asyncio.Future[None] | None = None
        self._dropped: str | None = None
        self._closed = False
        self._timer: asyncio.TimerHandle | None = None
        self._idle = False
        self._last_activity = 0.0

    def pending(self) -> int:
        """Events waiting in this subscriber's mailbox (how far behind it is)."""
        return len(self._events)

    @property
    def active(self) -> bool:
        return self._dropped is None and not self._closed

    def deliver(self, event: Event) -> bool:
        """Queue one event; False (and the subscriber is dropped) when the mailbox is full."""
        if self._dropped is not None or self._closed:
            return False
        if len(self._events) >= self._max_pending:
            self.drop(f"slow consumer: more than {self._max_pending} events behind")
            return False
        self._events.append(event)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        return True

    def drop(self, reason: str) -> None:
        self._dropped = reason
        self._wake()

    def close(self) -> None:
        """End the subscription: the consumer gets what is queued, then iteration stops."""
        self._closed = True
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def __aiter__(self) -> AsyncIterator[Event]:
        return self.events()  # type: ignore[return-value]

    async def events(self, idle_after: float | None = None) -> AsyncIterator[Event | None]:
        """Yield events one by one; ``None`` after ``idle_after`` quiet seconds (see batches)."""
        async for batch in self.batches(idle_after):
            if batch is None:
                yield None
                continue
            for event in batch:
                yield event

    async def batches(self, idle_after: float | None = None) -> AsyncIterator[list[Event] | None]:
        """Yield everything queued at once, so a consumer that fell behind catches up in one write.

        With ``idle_after``, also yield ``None`` after that many quiet seconds: the consumer's
        cue for a keep-alive. One timer per subscriber is re-armed lazily, so a busy stream
        costs no timer work per event. Raises ``SubscriberDropped`` after the queued events
        when the subscriber was dropped; returns when the subscription is closed.
        """
        loop = asyncio.get_running_loop()
        try:
            while True:
                if self._events:
                    batch, self._events = self._events, []
                    self.last_id = batch[-1].id
                    yield batch
                    continue
                if self._dropped is not None:
                    raise SubscriberDropped(self._dropped, self.last_id)
                if self._closed:
                    return
                if idle_after is not None and self._timer is None:
                    self._last_activity = loop.time()
                    self._timer = loop.call_later(idle_after, self._check_idle, loop, idle_after)
                self._waiter = loop.create_future()
                try:
                    await self._waiter
                finally:
                    self._waiter = None
                if self._idle:
                    self._idle = False
                    yield None
                if idle_after is not None:
                    self._last_activity = loop.time()
        finally:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None

    def _check_idle(self, loop: asyncio.AbstractEventLoop, idle_after: float) -> None:
        quiet_for = loop.time() - self._last_activity
        if quiet_for >= idle_after and self._waiter is not None and not self._waiter.done():
            self._timer = None
            self._idle = True
            self._waiter.set_result(None)
        else:
            delay = max(idle_after - quiet_for, idle_after / 10)
            self._timer = loop.call_later(delay, self._check_idle, loop, idle_after)


class Backend(ABC):
    """Everything a broker backend must do; ``Broker`` adds nothing but choosing one."""

    @abstractmethod
    async def connect(self) -> None: ...

    @abstractmethod
    async def close(self) -> None:
        """End every subscription (their iterators finish) and release resources."""

    @abstractmethod
    async def publish(self, topic: str, type: str, data: Any) -> Event: ...

    @abstractmethod
    def subscribe(
        self, topic: str, since: int | None = None
    ) -> AbstractAsyncContextManager[Subscription]: ...

    @abstractmethod
    async def last_id(self, topic: str) -> int:
        """Id of the newest event in the topic, 0 when there is none."""

    @abstractmethod
    def subscriber_count(self, topic: str) -> int: ...
