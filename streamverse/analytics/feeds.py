"""The two live analytics feeds, each declared once (``streamverse.sse.feeds.Feed``)."""

from __future__ import annotations

from ..broker import topics
from ..sse.feeds import Feed
from ..streams.schemas import StreamStatus
from . import service
from .schemas import GlobalStats, StreamAnalytics

GLOBAL_STATS = Feed(
    path="/streams/global-stats/live",
    topic=lambda params: topics.GLOBAL_STATS,
    snapshot=lambda services, params: service.global_snapshot(services),
    model=GlobalStats,
    snapshot_type="stats",
    summary="Live global stats",
    events="`stats` events with the platform's numbers whenever they change.",
    tags=("analytics",),
)

STREAM_ANALYTICS = Feed(
    path="/streams/{stream_id}/analytics/live",
    topic=lambda params: topics.analytics(params["stream_id"]),
    snapshot=lambda services, params: service.stream_snapshot(services, params["stream_id"]),
    model=StreamAnalytics,
    snapshot_type="analytics",
    summary="Live analytics",
    events="`analytics` events with the stream's numbers whenever they change, then "
    "`stream_ended` when it ends.",
    tags=("analytics",),
    final_types=frozenset({topics.STREAM_ENDED}),
    finished=lambda snapshot: snapshot.status == StreamStatus.ended,
    not_found="Unknown stream",
)

FEEDS = (GLOBAL_STATS, STREAM_ANALYTICS)
