"""Streams on the wire, and the status lifecycle."""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from ..schemas import OneLine, Schema, UTCDateTime


class StreamStatus(StrEnum):
    scheduled = "scheduled"
    live = "live"
    ended = "ended"


class StreamCreate(Schema):
    title: OneLine = Field(min_length=1, max_length=200, examples=["Speedrun practice"])
    description: str = Field("", max_length=5000)
    category: OneLine = Field(min_length=1, max_length=64, examples=["gaming"])


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
