"""In-process backend: a history ring per topic and the subscribers' own bounded mailboxes."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any

from .base import RESET, Backend, Event, Subscription


def clock_id() -> int:
    """Microseconds since 1970: where a new topic's ids start.

    A topic made again (the process restarted, or the topic was forgotten) starts above
    every id its earlier self gave out, unless that one published more than an event per
    microsecond. So an id from before is always older than the new history, and its client
    gets a reset instead of resuming on unrelated events. (Below 2**53: safe in JavaScript.)
    """
    return time.time_ns() // 1000


class _Topic:
    __slots__ = ("history", "name", "next_id", "subscribers")

    def __init__(self, name: str, history_size: int, first_id: int) -> None:
        self.name = name
        self.next_id = first_id
        self.history: deque[Event] = deque(maxlen=history_size)
        self.subscribers: set[Subscription] = set()


class MemoryBackend(Backend):
    """One process, no services. Each topic's ids start from the clock (``clock_id``), so a
    client resuming with an id from before a restart gets a reset, never wrong events.

    Memory is bounded three ways: ``history_size`` events per topic (``history_sizes`` sets
    it per kind of topic, the part of its name after the last colon), ``queue_size`` per
    subscriber, and at most ``max_topics`` topics: past that, the least recently used topic
    nobody is subscribed to is forgotten (a client resuming on it gets a reset).
    """

    def __init__(
        self,
        history_size: int = 1000,
        queue_size: int = 1000,
        max_topics: int = 10_000,
        history_sizes: Mapping[str, int] | None = None,
        first_id: Callable[[], int] = clock_id,
    ) -> None:
        self._first_id = first_id
        self._history_size = history_size
        self._history_sizes = dict(history_sizes or {})
        self._queue_size = queue_size
        self._max_topics = max_topics
        self._topics: dict[str, _Topic] = {}  # in order of last use, oldest first
        self._closed = False

    def _topic(self, name: str) -> _Topic:
        topic = self._topics.pop(name, None)
        if topic is None:
            kind = name.rsplit(":", 1)[-1]  # "stream:42:analytics" -> "analytics"
            size = self._history_sizes.get(kind, self._history_size)
            topic = _Topic(name, size, self._first_id())
            if len(self._topics) >= self._max_topics:
                self._forget_an_idle_topic()
        self._topics[name] = topic  # (re)inserted last: the most recently used
        return topic

    def _forget_an_idle_topic(self) -> None:
        for name, topic in self._topics.items():
            if not topic.subscribers:
                del self._topics[name]
                return

    async def connect(self) -> None:
        self._closed = False

    async def close(self) -> None:
        self._closed = True
        for topic in self._topics.values():
            for subscriber in topic.subscribers:
                subscriber.close()
            topic.subscribers.clear()

    async def publish(self, topic: str, type: str, data: Any) -> Event:
        state = self._topic(topic)
        event = Event(topic, state.next_id, type, data)
        state.next_id += 1
        state.history.append(event)
        dropped = [s for s in state.subscribers if not s.deliver(event)]
        for subscriber in dropped:
            state.subscribers.discard(subscriber)
        return event

    @asynccontextmanager
    async def subscribe(self, topic: str, since: int | None = None) -> AsyncIterator[Subscription]:
        state = self._topic(topic)
        subscription = Subscription(topic, self._queue_size)
        # Replay and registration happen in one step of the event loop: no gap, no duplicate.
        subscription.last_id = state.next_id - 1 if since is None else since
        for event in missed_events(state.history, state.next_id - 1, since, topic):
            subscription._events.append(event)
        if self._closed:
            subscription.close()
        else:
            state.subscribers.add(subscription)
        try:
            yield subscription
        finally:
            state.subscribers.discard(subscription)
            if not state.subscribers and not state.history:  # nothing was ever published:
                self._topics.pop(topic, None)  # a mistyped or made-up topic leaves nothing

    async def last_id(self, topic: str) -> int:
        state = self._topics.get(topic)
        return 0 if state is None else state.next_id - 1

    def subscriber_count(self, topic: str) -> int:
        state = self._topics.get(topic)
        return 0 if state is None else len(state.subscribers)


def missed_events(history: deque[Event], newest: int, since: int | None, topic: str) -> list[Event]:
    """Events after ``since``, or one reset marker when history cannot bridge the gap.

    A ``since`` newer than the newest id (the server restarted, or the id is made up) is
    also a gap: the client's state cannot be trusted, so it must reload.
    """
    if since is None or since == newest:
        return []
    oldest = history[0].id if history else newest + 1
    if since > newest or since < oldest - 1:
        return [Event(topic, newest, RESET, {"reason": "history", "last_id": newest})]
    return [event for event in history if event.id > since]
