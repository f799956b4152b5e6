"""The declarative base every table derives from, and the helpers tables share.

Portable column types only, so PostgreSQL works unchanged. A domain's tables live in its
own ``models.py``; importing the domain registers them here, and ``Store.create_tables``
creates whatever is registered.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy.orm import DeclarativeBase


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    """A random primary key: unguessable, and safe in paths and URLs."""
    return uuid.uuid4().hex[:16]


class Base(DeclarativeBase):
    pass
