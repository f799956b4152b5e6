"""Per-stream live analytics over SSE: viewers (presence), peak, likes, comment rate, status.

Nothing is invented: viewers are open connections, likes are rows, the rate is counted
messages. The aggregator publishes a snapshot to ``stream:{id}:analytics`` when any of them
changes (coalesced), and periodically while someone is watching.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse

from .feeds import Feed, FeedResponse, sse_doc
from .likes import count_likes
from .models import StreamAnalytics, StreamStatus
from .streams import NOT_FOUND, STREAM_ENDED, get_stream, topic

router = APIRouter(prefix="/streams", tags=["analytics"])


async def stream_snapshot_from_state(state, stream_id: str) -> StreamAnalytics:  # type: ignore[no-untyped-def]
    """The stream's numbers now; raises NotFound for an unknown stream."""
    async with state.store.session() as session:
        stream = await get_stream(session, stream_id)
        likes = await count_likes(session, stream_id)
    return StreamAnalytics(
        stream_id=stream_id,
        status=StreamStatus(stream.status),
        viewers=state.presence.viewers(stream_id),
        peak_viewers=state.presence.peak(stream_id),
        likes=likes,
        comments_per_minute=round(state.activity.per_minute(stream_id), 2),
    )


_JSON_ERROR = {
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
}


@router.get("/{stream_id}/analytics", response_model=StreamAnalytics, responses=NOT_FOUND)
async def read_analytics(stream_id: str, request: Request) -> StreamAnalytics:
    """The stream's numbers now, once (the live feed below sends them on every change)."""
    return await stream_snapshot_from_state(request.app.state, stream_id)


FEED = Feed(
    path=r"/streams/(?P<key>[^/]+)/analytics/live",
    topic=lambda stream_id: topic(stream_id, "analytics"),
    snapshot=stream_snapshot_from_state,
    snapshot_type="analytics",
    final_types=frozenset({STREAM_ENDED}),
    finished=lambda snapshot: snapshot.status == StreamStatus.ended,
)


@router.get(
    "/{stream_id}/analytics/live",
    response_class=StreamingResponse,
    responses={
        **sse_doc("StreamAnalytics", "`analytics` events, then `stream_ended` when it ends"),
        404: {"description": "Unknown stream", **_JSON_ERROR},
    },
)
async def live_analytics(
    stream_id: str,
    request: Request,
    last_event_id: Annotated[str | None, Header()] = None,
    last_event_id_query: Annotated[str | None, Query(alias="last_event_id")] = None,
) -> FeedResponse:
    """``analytics`` events with the stream's numbers whenever they change.

    Served by ``streamverse.feeds`` in front of FastAPI; this route documents it."""
    return FeedResponse(FEED, stream_id, request.app.state)
