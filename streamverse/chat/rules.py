"""A room's rules as the database holds them: who is owner or moderator, who is banned or
timed out, and the room's modes and banned words.

Read afresh for every command (authorization is checked on each message, not once at
connect), in the caller's session or connection: a ban issued by another server, or a
moderator removed a second ago, takes effect on the very next message.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import String, bindparam, exists, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.sql import Executable

from ..db.base import utcnow
from ..db.behind import Row
from ..errors import NotFound
from ..streams import service as streams
from .models import ChatMessageRow, ModeratorRow, RestrictionRow, RoomRow
from .schemas import Role, RoomModes


def as_utc(value: datetime) -> datetime:
    """SQLite hands times back without their zone; every stored time is UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


async def role_in(session: AsyncSession, owner_id: str, stream_id: str, user_id: str) -> Role:
    if user_id == owner_id:
        return Role.owner
    if await session.get(ModeratorRow, (stream_id, user_id)) is not None:
        return Role.moderator
    return Role.viewer


async def restriction(session: AsyncSession, stream_id: str, user_id: str) -> RestrictionRow | None:
    """The user's ban, or their timeout while it lasts; None when they may post."""
    row = await session.get(RestrictionRow, (stream_id, user_id))
    if row is None or row.until is None or as_utc(row.until) > utcnow():
        return row
    return None


def seconds_left(row: RestrictionRow) -> float | None:
    """A timeout's remaining seconds; None for a ban."""
    if row.until is None:
        return None
    return max(0.0, (as_utc(row.until) - utcnow()).total_seconds())


async def room_rules(session: AsyncSession, stream_id: str) -> tuple[RoomModes, tuple[str, ...]]:
    """The room's modes and banned words (the defaults for a room nobody configured)."""
    row = await session.get(RoomRow, stream_id)
    if row is None:
        return RoomModes(), ()
    modes = RoomModes(
        slow_seconds=row.slow_seconds,
        emote_only=row.emote_only,
        links_allowed=row.links_allowed,
    )
    return modes, tuple(json.loads(row.banned_words))


async def room_row(session: AsyncSession, stream_id: str) -> RoomRow:
    """The room's row, made with the defaults when it has none yet (not committed)."""
    row = await session.get(RoomRow, stream_id)
    if row is None:
        row = RoomRow(
            stream_id=stream_id,
            slow_seconds=0,
            emote_only=False,
            links_allowed=True,
            banned_words="[]",
        )
        session.add(row)
    return row


@dataclass(frozen=True, slots=True)
class Standing:
    """Everything the stream and its room's rules say about one user, read in one query."""

    owner_id: str
    stream_status: str
    moderator: bool
    restricted: bool
    until: datetime | None
    modes: RoomModes
    banned_words: tuple[str, ...]
    last_post: datetime | None


def _standing_query() -> Executable:
    stream_id, user_id = bindparam("stream_id", type_=String), bindparam("user_id", type_=String)
    restriction_of = (RestrictionRow.stream_id == stream_id, RestrictionRow.user_id == user_id)
    stream = streams.owner_and_status(stream_id)
    return select(
        stream.c.owner_id,
        stream.c.status,
        exists().where(ModeratorRow.stream_id == stream_id, ModeratorRow.user_id == user_id),
        exists().where(*restriction_of),
        select(RestrictionRow.until).where(*restriction_of).scalar_subquery(),
        select(ChatMessageRow.created_at)
        .where(ChatMessageRow.stream_id == stream_id, ChatMessageRow.user_id == user_id)
        .order_by(ChatMessageRow.id.desc())
        .limit(1)
        .scalar_subquery(),
        RoomRow.slow_seconds,
        RoomRow.emote_only,
        RoomRow.links_allowed,
        RoomRow.banned_words,
    ).select_from(stream.outerjoin(RoomRow, RoomRow.stream_id == stream_id))


STANDING = _standing_query()
"""Built once (with bound parameters): it runs for every chat message."""


def latest_post(pending: list[Row], stream_id: str, user_id: str) -> datetime | None:
    """When the user last posted in the room, among messages not stored yet (what slow
    mode must count besides the table's ``last_post``)."""
    for row in reversed(pending):
        if row["stream_id"] == stream_id and row["user_id"] == user_id:
            created: datetime = row["created_at"]
            return created
    return None


async def standing(connection: AsyncConnection, stream_id: str, user_id: str) -> Standing:
    """The stream's owner and status and the user's standing in its room, in one round
    trip on a plain connection (no ORM session: this runs for every chat message).
    ``NotFound`` when there is no such stream."""
    params = {"stream_id": stream_id, "user_id": user_id}
    row = (await connection.execute(STANDING, params)).one_or_none()
    if row is None:
        raise NotFound("stream", stream_id)
    owner_id, status, moderator, restricted, until, last_post, slow, emote_only, links, words = row
    modes = (
        RoomModes()
        if slow is None
        else RoomModes(slow_seconds=slow, emote_only=emote_only, links_allowed=links)
    )
    return Standing(
        owner_id=owner_id,
        stream_status=status,
        moderator=bool(moderator),
        restricted=bool(restricted),
        until=None if until is None else as_utc(until),
        modes=modes,
        banned_words=tuple(json.loads(words)) if words else (),
        last_post=None if last_post is None else as_utc(last_post),
    )
