"""Publish/subscribe with per-topic event ids, bounded history and bounded subscriber queues.

Every fan-out in StreamVerse goes through a ``Broker``: chat, comments, analytics, progress.
The backend is chosen by URL scheme (``memory://`` or ``redis://``) and imported lazily.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractAsyncContextManager
from typing import Any

from .base import RESET, Backend, Event, SubscriberDropped, Subscription

__all__ = ["RESET", "Broker", "Event", "SubscriberDropped", "Subscription"]


class Broker:
    """The facade callers use; it forwards to the backend named by ``url``."""

    def __init__(
        self,
        url: str = "memory://",
        history_size: int = 1000,
        queue_size: int = 1000,
        history_sizes: Mapping[str, int] | None = None,
    ):
        self.url = url
        self.backend: Backend = _backend_for(url, history_size, queue_size, history_sizes)

    async def connect(self) -> None:
        await self.backend.connect()

    async def close(self) -> None:
        await self.backend.close()

    async def publish(self, topic: str, type: str, data: Any) -> Event:
        return await self.backend.publish(topic, type, data)

    def subscribe(
        self, topic: str, since: int | None = None
    ) -> AbstractAsyncContextManager[Subscription]:
        """``async with broker.subscribe(topic, since) as subscription: async for ...``"""
        return self.backend.subscribe(topic, since)

    async def last_id(self, topic: str) -> int:
        return await self.backend.last_id(topic)

    def subscriber_count(self, topic: str) -> int:
        return self.backend.subscriber_count(topic)


def _backend_for(
    url: str, history_size: int, queue_size: int, history_sizes: Mapping[str, int] | None
) -> Backend:
    scheme = url.split("://", 1)[0]
    if scheme == "memory":
        from .memory import MemoryBackend

        return MemoryBackend(history_size, queue_size, history_sizes=history_sizes)
    raise ValueError(
        f"unsupported broker URL scheme {scheme!r}; use memory:// (redis:// is planned)"
    )
