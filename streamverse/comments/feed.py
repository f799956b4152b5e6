"""The live comments feed as NDJSON: one JSON object per line, until the stream ends.

The feed subscribes to the broker *before* reading recent comments from the database,
then skips live events it has already sent (comment ids only grow). Reading first and
subscribing second would lose a comment posted in between.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

from ..broker import SubscriberDropped, topics
from ..services import Services
from ..streams import service as streams
from . import service

NDJSON = "application/x-ndjson"


async def comment_lines(
    services: Services, stream_id: str, count: int, viewer: str, since: int | None = None
) -> AsyncIterator[bytes]:
    """Recent comments (or all since a comment id), then each new one as it is posted."""
    keepalive = services.settings.sse_keepalive_seconds
    with services.presence.watching(stream_id, viewer):
        async with services.broker.subscribe(topics.comments(stream_id)) as subscription:
            # Read after subscribing: an end or a comment that lands in between is not lost.
            ended = await streams.is_ended(services, stream_id)
            replayed = 0
            comments, complete = await service.replay(services, stream_id, count, since)
            if not complete:
                reason = f"more than {service.MAX_REPLAY} comments missed; these are the newest"
                yield line("reset", {"reason": reason})
            for comment in comments:
                yield line("comment", comment.model_dump(mode="json"))
                replayed = comment.id
            if ended:
                yield line("end", {"reason": "stream ended"})
                return
            try:
                async for event in subscription.events(idle_after=keepalive):
                    if event is None:
                        yield b'{"type":"keepalive"}\n'
                    elif event.type == topics.STREAM_ENDED:
                        yield line("end", {"reason": "stream ended"})
                        return
                    elif event.type == "comment" and event.data["id"] > replayed:
                        # Only replayed ids are skipped: concurrent posts may publish out of
                        # id order, so a live id below an earlier live one is still new.
                        yield line("comment", event.data)
            except SubscriberDropped as dropped:
                yield line("end", {"reason": f"{dropped.reason}; reconnect to catch up"})
                return
            # The subscription was closed: the server is shutting down.
            yield line("end", {"reason": "server shutting down; reconnect later"})


def line(type: str, data: object) -> bytes:
    """One NDJSON line: ``{"type": ..., "data": ...}`` and a newline."""
    return json.dumps({"type": type, "data": data}, separators=(",", ":")).encode() + b"\n"
