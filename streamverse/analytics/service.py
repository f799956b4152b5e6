"""Live numbers from real state, and their publisher.

Nothing is invented: viewers are open connections (``Presence``), likes are rows, the rate
is counted messages (``Activity``). The aggregator calls ``AnalyticsPublisher`` with the
streams that changed (coalesced); it publishes their snapshots and the platform's numbers.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from ..broker import topics
from ..errors import NotFound
from ..likes import service as likes
from ..services import Services
from ..streams import service as streams
from .schemas import CategoryStats, GlobalStats, StreamAnalytics, TrendingStream
from .trending import TRENDING_SIZE, engagement_score


async def stream_snapshot(services: Services, stream_id: str) -> StreamAnalytics:
    """The stream's numbers now; ``NotFound`` for an unknown stream."""
    stream = await streams.get_stream(services, stream_id)
    counts = await likes.count_likes(services, [stream_id])
    return StreamAnalytics(
        stream_id=stream_id,
        status=stream.status,
        viewers=services.presence.viewers(stream_id),
        peak_viewers=services.presence.peak(stream_id),
        likes=counts[stream_id],
        comments_per_minute=round(services.activity.per_minute(stream_id), 2),
    )


async def global_snapshot(services: Services) -> GlobalStats:
    """Computed from the database (live streams, likes) and live state (presence, chat)."""
    live = await streams.live_streams(services)
    like_counts = await likes.count_likes(services, [stream.id for stream in live])
    categories: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    trending = []
    for stream in live:
        viewers = services.presence.viewers(stream.id)
        rate = round(services.activity.per_minute(stream.id), 2)
        categories[stream.category][0] += 1
        categories[stream.category][1] += viewers
        trending.append(
            TrendingStream(
                stream_id=stream.id,
                title=stream.title,
                category=stream.category,
                viewers=viewers,
                likes=like_counts[stream.id],
                comments_per_minute=rate,
                score=engagement_score(viewers, rate, like_counts[stream.id]),
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


class AnalyticsPublisher:
    """What the aggregator's flush does: a snapshot per changed stream, then the platform's
    numbers unless they are the same as last time."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self._last_global: dict[str, Any] | None = None

    async def __call__(self, changed: set[str]) -> None:
        broker = self.services.broker
        for stream_id in sorted(changed):
            try:
                snapshot = await stream_snapshot(self.services, stream_id)
            except NotFound:
                continue
            data = snapshot.model_dump(mode="json")
            await broker.publish(topics.analytics(stream_id), "analytics", data)
        stats = (await global_snapshot(self.services)).model_dump(mode="json")
        if stats != self._last_global:
            self._last_global = stats
            await broker.publish(topics.GLOBAL_STATS, "stats", stats)
