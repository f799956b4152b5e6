"""Live numbers on the wire: per stream, and for the whole platform."""

from __future__ import annotations

from pydantic import Field

from ..schemas import Schema
from ..streams.schemas import StreamStatus


class StreamAnalytics(Schema):
    """Live numbers for one stream, all derived from real state."""

    stream_id: str
    status: StreamStatus
    viewers: int = Field(description="Distinct viewers connected to its comments feed now.")
    peak_viewers: int = Field(description="Most viewers at once since the server started.")
    likes: int
    comments_per_minute: float = Field(description="Comments and chat over the last 60 s.")


class CategoryStats(Schema):
    category: str
    live_streams: int
    viewers: int


class TrendingStream(Schema):
    stream_id: str
    title: str
    category: str
    viewers: int
    likes: int
    comments_per_minute: float
    score: float


class GlobalStats(Schema):
    active_streams: int = Field(description="Streams whose status is live.")
    total_viewers: int = Field(description="Viewers of all live streams (comments feeds).")
    popular_categories: list[CategoryStats]
    trending: list[TrendingStream]
