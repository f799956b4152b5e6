"""Likes on the wire."""

from __future__ import annotations

from pydantic import Field

from ..schemas import Schema


class LikeResult(Schema):
    stream_id: str
    liked: bool = Field(description="Always true: the caller likes the stream.")
    created: bool = Field(description="False when the caller had already liked it.")
    likes: int
