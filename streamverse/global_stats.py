"""Platform-wide live stats over SSE: active streams, viewers, categories, trending.

Trending score (documented in the API): ``viewers + 0.5 * comments_per_minute + 0.1 * likes``.
Viewers weigh most because they are people watching now; chat rate shows a room is lively;
likes accumulate over a stream's life, so they count least. Ties break by title.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse
from sqlalchemy import func, select

from .feeds import Feed, FeedResponse, sse_doc
from .models import CategoryStats, GlobalStats, StreamStatus, TrendingStream
from .tables import LikeRow, StreamRow

router = APIRouter(prefix="/streams", tags=["analytics"])

TOPIC = "global:stats"
TRENDING_SIZE = 10
VIEWER_WEIGHT, CHAT_WEIGHT, LIKE_WEIGHT = 1.0, 0.5, 0.1


def engagement_score(viewers: int, comments_per_minute: float, likes: int) -> float:
    score = VIEWER_WEIGHT * viewers + CHAT_WEIGHT * comments_per_minute + LIKE_WEIGHT * likes
    return round(score, 2)


async def global_snapshot(state) -> GlobalStats:  # type: ignore[no-untyped-def]
    """Computed from the database (live streams, likes) and live state (presence, chat)."""
    async with state.store.session() as session:
        live = (
            await session.execute(select(StreamRow).where(StreamRow.status == StreamStatus.live))
        ).scalars()
        live = list(live)
        likes_query = (
            select(LikeRow.stream_id, func.count())
            .where(LikeRow.stream_id.in_([row.id for row in live]))
            .group_by(LikeRow.stream_id)
        )
        likes = {stream_id: count for stream_id, count in await session.execute(likes_query)}
    presence, activity = state.presence, state.activity
    categories: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    trending = []
    for row in live:
        viewers = presence.viewers(row.id)
        rate = round(activity.per_minute(row.id), 2)
        categories[row.category][0] += 1
        categories[row.category][1] += viewers
        trending.append(
            TrendingStream(
                stream_id=row.id,
                title=row.title,
                category=row.category,
                viewers=viewers,
                likes=likes.get(row.id, 0),
                comments_per_minute=rate,
                score=engagement_score(viewers, rate, likes.get(row.id, 0)),
            )
        )
    trending.sort(key=lambda stream: (-stream.score, stream.title, stream.stream_id))
    popular = [
        CategoryStats(category=name, live_streams=count, viewers=viewers)
        for name, (count, viewers) in categories.items()
    ]
    popular.sort(
        key=lambda category: (-category.viewers, -category.live_streams, category.category)
    )
    return GlobalStats(
        active_streams=len(live),
        total_viewers=sum(stream.viewers for stream in trending),
        popular_categories=popular,
        trending=trending[:TRENDING_SIZE],
    )


FEED = Feed(
    path=r"/streams/global-stats/live",
    topic=lambda _: TOPIC,
    snapshot=lambda state, _: global_snapshot(state),
    snapshot_type="stats",
)


@router.get("/global-stats", response_model=GlobalStats)
async def read_global_stats(request: Request) -> GlobalStats:
    """The platform's numbers now, once (the live feed below sends them on every change)."""
    return await global_snapshot(request.app.state)


@router.get(
    "/global-stats/live",
    response_class=StreamingResponse,
    responses=sse_doc("GlobalStats", "`stats` events whenever the numbers change"),
)
async def live_global_stats(
    request: Request,
    last_event_id: Annotated[str | None, Header()] = None,
    last_event_id_query: Annotated[str | None, Query(alias="last_event_id")] = None,
) -> FeedResponse:
    """``stats`` events with the platform's numbers whenever they change.

    Served by ``streamverse.feeds`` in front of FastAPI; this route documents it."""
    return FeedResponse(FEED, "", request.app.state)
