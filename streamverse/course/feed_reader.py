"""An open SSE connection that a notebook reads on demand, with a deadline on every wait.

Lessons need a feed that stays open while other cells run and is read only when asked:
the events wait in the socket meanwhile. ``httpx-sse`` parses the stream; events without
data (what ``httpx-sse`` 0.4 makes of keep-alive comments, lesson 02) are skipped.

    feed = await LiveFeed.open(client, "/streams/global-stats/live")
    [snapshot] = await feed.until(lambda event: True)
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import httpx
from httpx_sse import EventSource, ServerSentEvent


class LiveFeed:
    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self.opened = time.monotonic()
        self.events: list[ServerSentEvent] = []
        """Every event received so far."""
        self.arrived: list[float] = []
        """Seconds after opening, one per event (for plots)."""
        self._source = EventSource(response).aiter_sse()

    @classmethod
    async def open(
        cls, client: httpx.AsyncClient, path: str, last_event_id: str | None = None
    ) -> LiveFeed:
        """Open ``path`` (resuming after ``last_event_id`` when given)."""
        headers = {} if last_event_id is None else {"Last-Event-ID": last_event_id}
        request = client.build_request("GET", path, headers=headers)
        return cls(await client.send(request, stream=True))

    async def until(
        self, predicate: Callable[[ServerSentEvent], bool], within: float = 10.0
    ) -> list[ServerSentEvent]:
        """Events up to the first that satisfies ``predicate`` (within ``within`` seconds)."""
        got = []
        async with asyncio.timeout(within):
            async for event in self._source:
                if not event.data:
                    continue  # an empty event stands for a keep-alive
                got.append(event)
                self.events.append(event)
                self.arrived.append(time.monotonic() - self.opened)
                if predicate(event):
                    return got
        raise EOFError("the feed ended before the condition held")

    def latest(self) -> Any:
        """The newest event's data, decoded."""
        return self.events[-1].json()

    async def close(self) -> None:
        await self.response.aclose()
