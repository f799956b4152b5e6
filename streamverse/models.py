"""Pydantic schemas for every request and response, shared by routes, clients and lessons."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field


def _as_utc(value: datetime) -> datetime:
    """Every stored time is UTC, but SQLite hands it back without a zone: say it's UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


UTCDateTime = Annotated[datetime, AfterValidator(_as_utc)]
"""A time in UTC, serialised with its zone (``...Z``) whether it came fresh or from the DB."""


class Schema(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class ErrorBody(Schema):
    """Every 4xx/5xx JSON error has this shape (422 adds FastAPI's list of field errors)."""

    detail: str = Field(examples=["stream 'abc' not found"])


class UserCreate(Schema):
    name: str = Field(min_length=1, max_length=64, pattern=r"^[\w .\-]+$", examples=["ada"])


class User(Schema):
    id: str
    name: str
    created_at: UTCDateTime


class UserWithToken(User):
    token: str = Field(description="Bearer token; shown once, stored only as a hash.")


class StreamStatus(StrEnum):
    scheduled = "scheduled"
    live = "live"
    ended = "ended"


class StreamCreate(Schema):
    title: str = Field(min_length=1, max_length=200, examples=["Speedrun practice"])
    description: str = Field("", max_length=5000)
    category: str = Field(min_length=1, max_length=64, examples=["gaming"])


class Stream(Schema):
    id: str
    owner_id: str
    title: str
    description: str
    category: str
    status: StreamStatus
    created_at: UTCDateTime
    started_at: UTCDateTime | None
    ended_at: UTCDateTime | None


class StreamStatusUpdate(Schema):
    status: StreamStatus


class CommentCreate(Schema):
    text: str = Field(min_length=1, max_length=500, examples=["Great play!"])


class Comment(Schema):
    id: int
    stream_id: str
    user_id: str
    user_name: str
    text: str
    created_at: UTCDateTime


class LikeResult(Schema):
    stream_id: str
    liked: bool = Field(description="Always true: the caller likes the stream.")
    created: bool = Field(description="False when the caller had already liked it.")
    likes: int


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
