"""In-process backend: a bounded history ring per topic; delivery is a function call."""

from __future__ import annotations

from collections import deque
from itertools import islice
from typing import Any

from ..events import Event, clock_id
from .base import Backend, Deliver, History


class _Topic:
    __slots__ = ("history", "next_id")

    def __init__(self, keep: int) -> None:
        self.next_id = clock_id()
        self.history: deque[Event] = deque(maxlen=keep)


class MemoryBackend(Backend):
    """One process, no services. Past ``max_topics`` topics, the least recently used one
    nobody listens to is forgotten (a client resuming on it gets a reset); a topic nothing
    was published to is forgotten when its listeners leave, so made-up names leave nothing."""

    def __init__(self, deliver: Deliver, max_topics: int = 10_000) -> None:
        super().__init__(deliver)
        self.max_topics = max_topics
        self.topics: dict[str, _Topic] = {}  # least recently used first
        self.listening: set[str] = set()

    def _topic(self, name: str, keep: int) -> _Topic:
        topic = self.topics.pop(name, None)
        if topic is None and len(self.topics) >= self.max_topics:
            idle = next((other for other in self.topics if other not in self.listening), None)
            self.topics.pop(idle or "", None)
        self.topics[name] = topic = topic or _Topic(keep)  # (re)inserted last: the newest
        return topic

    async def publish(self, topic: str, keep: int, type: str, data: Any) -> Event:
        state = self._topic(topic, keep)
        event = Event(topic, state.next_id, type, data)
        state.next_id += 1
        state.history.append(event)
        if topic in self.listening:
            self.deliver(event)
        return event

    async def history(self, topic: str, keep: int, since: int | None) -> History:
        state = self._topic(topic, keep)
        newest = state.next_id - 1
        if since is None or since == newest:
            return History(newest, [])
        oldest = state.history[0].id if state.history else newest + 1
        if since > newest or since < oldest - 1:
            return History(newest, None)
        return History(newest, list(islice(state.history, since - oldest + 1, None)))

    async def listen(self, topic: str) -> None:
        self.listening.add(topic)

    async def unlisten(self, topic: str) -> None:
        self.listening.discard(topic)
        state = self.topics.get(topic)
        if state is not None and not state.history:
            del self.topics[topic]
