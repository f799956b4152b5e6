"""A broker subscription as SSE bytes: snapshot or replay or reset, live events, keep-alives."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from ..broker import RESET, SubscriberDropped, Subscription
from .encoder import KEEPALIVE, encode, frame, to_json

Snapshot = Callable[[], Awaitable[Any]]


async def event_stream(
    subscription: Subscription,
    *,
    snapshot: Snapshot,
    initial: Any = None,
    keepalive: float,
    retry_ms: int,
    snapshot_type: str = "snapshot",
    final_types: frozenset[str] = frozenset(),
) -> AsyncIterator[bytes]:
    """Turn a broker subscription into SSE bytes.

    A fresh client first gets ``initial``, the snapshot taken after subscribing, with the
    topic's id at that moment, so it can resume from there; a resuming client (``initial``
    None) gets exactly the events it missed; when history cannot bridge the gap it gets
    ``event: reset`` with a fresh ``snapshot()``. Events whose type is in
    ``final_types`` end the stream after being sent. A dropped (too slow) subscriber gets
    ``event: dropped`` without an id, so its browser reconnects from its last real id.
    Everything queued is written in one chunk, so a subscriber that fell behind catches up
    in one write.
    """
    # The retry hint rides on the first frame: a frame without data dispatches no event.
    first = f"retry: {int(retry_ms)}\n".encode()
    if initial is not None:
        yield first + encode(to_json(initial), event=snapshot_type, id=subscription.last_id)
        first = initial = b""  # nothing of it stays alive for the feed's lifetime
    try:
        async for batch in subscription.batches(idle_after=keepalive):
            if batch is None:
                yield first + KEEPALIVE
                first = b""
                continue
            if len(batch) == 1 and not first and batch[0].type != RESET:
                # The common case live: one event, whose bytes every subscriber shares.
                yield frame(batch[0])
                if batch[0].type in final_types:
                    return
                continue
            chunk = bytearray(first)
            first = b""
            for event in batch:
                if event.type == RESET:
                    chunk += encode(to_json(await snapshot()), event=RESET, id=event.id)
                else:
                    chunk += frame(event)
                if event.type in final_types:
                    yield bytes(chunk)
                    return
            yield bytes(chunk)
    except SubscriberDropped as dropped:
        data = {"reason": dropped.reason, "last_id": dropped.last_id}
        yield encode(to_json(data), event="dropped")
