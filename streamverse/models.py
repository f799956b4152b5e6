"""Pydantic schemas for every request and response, shared by routes, clients and lessons."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


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
    created_at: datetime


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
    created_at: datetime
    started_at: datetime | None
    ended_at: datetime | None


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
    created_at: datetime
