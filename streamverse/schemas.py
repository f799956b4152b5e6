"""What every domain's Pydantic schemas share: the base class and UTC timestamps."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict


def _as_utc(value: datetime) -> datetime:
    """Every stored time is UTC, but SQLite hands it back without a zone: say it's UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


UTCDateTime = Annotated[datetime, AfterValidator(_as_utc)]
"""A time in UTC, serialised with its zone (``...Z``) whether it came fresh or from the DB."""


class Schema(BaseModel):
    """Readable from ORM rows (``Model.model_validate(row)``)."""

    model_config = ConfigDict(from_attributes=True)
