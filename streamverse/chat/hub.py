"""The chat's live state in one process: open connections, connection caps, rate limits, the
filters plugged in, and one small task that coalesces presence events and cuts stalled
clients.

One ``Hub`` per app (``hub_of(services)``), made on first use, so the chat needs nothing
from the app's startup. Its task runs only while someone is connected. The hub keeps no
socket lists for fan-out: every connection sends from its own broker subscription. It
tracks connections only to count them and to notice one whose client stopped reading.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from typing import TYPE_CHECKING, Protocol

from ..broker import topics
from .filters import BUILT_IN, MessageFilter
from .ratelimit import RateLimiter, Slots
from .schemas import PresenceData

if TYPE_CHECKING:
    from ..services import Services

logger = logging.getLogger("streamverse.chat")

TICK = 0.25
"""Seconds between two rounds of the hub's task (sweeps and presence flushes)."""


class Swept(Protocol):
    """What the hub needs of a connection: its room, and a periodic look at its progress."""

    stream_id: str

    def sweep(self, now: float) -> None: ...


class Hub:
    def __init__(self, services: Services) -> None:
        self._services = weakref.ref(services)
        self.settings = services.settings
        self.limiter = RateLimiter()
        self.per_user = Slots()
        self.per_address = Slots()
        self.extra_filters: list[MessageFilter] = []
        self.rooms: dict[str, set[Swept]] = {}
        self._dirty: set[str] = set()
        self._published: dict[str, int] = {}
        self._next_presence = 0.0
        self._task: asyncio.Task[None] | None = None

    @property
    def filters(self) -> tuple[MessageFilter, ...]:
        """The built-in filters (modes, banned words), then the ones plugged in."""
        return (*BUILT_IN, *self.extra_filters)

    def join(self, connection: Swept) -> None:
        stream_id = connection.stream_id
        services = self._services()
        if stream_id not in self._published and services is not None:
            # The count the welcome reports: presence events say when it changes.
            self._published[stream_id] = services.presence.viewers(stream_id)
        self.rooms.setdefault(stream_id, set()).add(connection)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name="streamverse-chat-hub"
            )

    def leave(self, connection: Swept) -> None:
        room = self.rooms.get(connection.stream_id)
        if room is not None:
            room.discard(connection)
            if not room:
                del self.rooms[connection.stream_id]

    def connections(self, stream_id: str | None = None) -> int:
        """Open chat connections in this process (in one room, or in all)."""
        if stream_id is not None:
            return len(self.rooms.get(stream_id, ()))
        return sum(len(room) for room in self.rooms.values())

    def presence_changed(self, stream_id: str) -> None:
        """Someone came or went: a presence event follows within the interval."""
        self._dirty.add(stream_id)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while self.rooms or self._dirty:
            await asyncio.sleep(TICK)
            now = loop.time()
            for room in list(self.rooms.values()):
                for connection in list(room):
                    connection.sweep(now)
            if now >= self._next_presence:
                # Every open room, not only those where a chatter came or went: viewers of
                # the stream's other live feeds count too.
                self._next_presence = now + self.settings.chat_presence_interval_seconds
                changed, self._dirty = self._dirty | set(self.rooms), set()
                with contextlib.suppress(Exception):  # logged; the next round retries
                    await self._publish_presence(changed)
            if len(self.limiter) > 1000:
                self.limiter.prune()

    async def _publish_presence(self, streams: set[str]) -> None:
        services = self._services()
        if services is None:
            return
        for stream_id in sorted(streams):
            viewers = services.presence.viewers(stream_id)
            if self._published.get(stream_id) == viewers:
                continue
            if viewers == 0 and stream_id not in self.rooms:
                self._published.pop(stream_id, None)
                continue
            self._published[stream_id] = viewers
            data = PresenceData(viewers=viewers).model_dump(mode="json")
            try:
                await services.broker.publish(topics.chat(stream_id), "presence", data)
            except Exception:
                logger.exception("publishing chat presence failed")
                raise


def room_lock(services: Services, stream_id: str) -> asyncio.Lock:
    """Held while a message is published and stored, and while a client subscribes (see
    ``service.join``), so the history a client reads and its live events meet exactly."""
    return services.order_locks(f"chat:{stream_id}")


_hubs: weakref.WeakKeyDictionary[Services, Hub] = weakref.WeakKeyDictionary()


def hub_of(services: Services) -> Hub:
    """The app's chat hub, made on first use."""
    hub = _hubs.get(services)
    if hub is None:
        hub = _hubs[services] = Hub(services)
    return hub
