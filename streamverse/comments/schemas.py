"""Comments on the wire."""

from __future__ import annotations

from pydantic import Field

from ..schemas import Schema, UTCDateTime, WrittenText


class CommentCreate(Schema):
    text: WrittenText = Field(min_length=1, max_length=500, examples=["Great play!"])


class Comment(Schema):
    id: int
    stream_id: str
    user_id: str
    user_name: str
    text: str
    created_at: UTCDateTime
