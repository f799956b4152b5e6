"""Users on the wire."""

from __future__ import annotations

from pydantic import Field

from ..schemas import OneLine, Schema, UTCDateTime


class UserCreate(Schema):
    name: OneLine = Field(min_length=1, max_length=64, pattern=r"^[\w .\-]+$", examples=["ada"])


class User(Schema):
    id: str
    name: str
    created_at: UTCDateTime


class UserWithToken(User):
    token: str = Field(description="Bearer token; shown once, stored only as a hash.")
