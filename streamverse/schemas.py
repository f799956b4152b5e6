"""What every domain's Pydantic schemas share: the base class, UTC timestamps, and text a
person typed (never blank, never carrying control characters)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict


def _as_utc(value: datetime) -> datetime:
    """Every stored time is UTC, but SQLite hands it back without a zone: say it's UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


UTCDateTime = Annotated[datetime, AfterValidator(_as_utc)]
"""A time in UTC, serialised with its zone (``...Z``) whether it came fresh or from the DB."""


def _written(text: str) -> str:
    if not text.strip():
        raise ValueError("must not be blank")
    if any((ord(char) < 32 and char not in "\r\n\t") or ord(char) == 127 for char in text):
        raise ValueError("must not contain control characters")
    return text


def _one_line(text: str) -> str:
    if any(char in text for char in "\r\n\t"):
        raise ValueError("must be one line")
    return _written(text)


WrittenText = Annotated[str, AfterValidator(_written)]
"""Text a person wrote (a comment): something besides spaces; line breaks and tabs allowed."""
OneLine = Annotated[str, AfterValidator(_one_line)]
"""A name or a title: one line of text, something besides spaces."""


class Schema(BaseModel):
    """Readable from ORM rows (``Model.model_validate(row)``)."""

    model_config = ConfigDict(from_attributes=True)
