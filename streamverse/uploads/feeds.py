"""An upload's progress, live: the SSE feed (declared once, served by ``FeedMiddleware``)
and the same events as WebSocket messages.

Both subscribe to ``upload:<id>:progress`` before taking the snapshot (nothing in
between is lost), resume after a ``Last-Event-ID`` (or ``last_event_id``) from history,
get a ``reset`` with a fresh snapshot when history cannot bridge the gap, and end after
``upload_ended``, or at once when the snapshot shows a final state.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from ..broker import RESET, SubscriberDropped, topics
from ..services import Services
from ..sse.feeds import Feed
from . import service
from .progress import PROGRESS, UPLOAD_ENDED
from .schemas import UploadProgress

UPLOAD_PROGRESS = Feed(
    path="/uploads/{upload_id}/progress",
    topic=lambda params: topics.upload_progress(params["upload_id"]),
    snapshot=lambda services, params: service.progress(services, params["upload_id"]),
    model=UploadProgress,
    snapshot_type=PROGRESS,
    summary="Live upload progress",
    events="`progress` events (bytes received, total, percent, rate, eta, state: created, "
    "receiving, validating, processing, ready or failed with a reason), throttled; then "
    "`upload_ended`. The upload id is the capability: only its uploader is given it.",
    tags=("uploads",),
    final_types=frozenset({UPLOAD_ENDED}),
    finished=lambda snapshot: snapshot.state.final,
    not_found="Unknown upload",
)

FEEDS = (UPLOAD_PROGRESS,)


def message(type: str, id: int | None, data: Any) -> dict[str, Any]:
    return {"type": type, "id": id, "data": data}


async def progress_messages(
    services: Services, upload_id: str, since: int | None
) -> AsyncIterator[dict[str, Any]]:
    """The feed's events as ``{"type", "id", "data"}`` messages, for the WebSocket."""
    topic = topics.upload_progress(upload_id)
    async with services.broker.subscribe(topic, since) as subscription:
        current = await service.progress(services, upload_id)
        if since is None:
            yield message(PROGRESS, subscription.last_id, current.model_dump(mode="json"))
            if current.state.final:
                yield message(UPLOAD_ENDED, None, {"upload_id": upload_id})
                return
        try:
            async for event in subscription:
                if event.type == RESET:
                    fresh = await service.progress(services, upload_id)
                    yield message(RESET, event.id, fresh.model_dump(mode="json"))
                    if fresh.state.final:  # its end is in the past: nothing more will come
                        yield message(UPLOAD_ENDED, None, {"upload_id": upload_id})
                        return
                    continue
                yield message(event.type, event.id, event.data)
                if event.type == UPLOAD_ENDED:
                    return
        except SubscriberDropped as dropped:
            yield message("dropped", None, {"reason": dropped.reason, "last_id": dropped.last_id})
