"""Moderation: delete, timeout, ban and unban, the room's modes and banned words, moderators.

The owner appoints moderators; moderators and the owner moderate. Nobody acts on the owner,
and only the owner acts on a moderator. Each action changes the database first (so a
banned user who reconnects at once is already refused), then is broadcast on the room's
topic as a ``moderation`` message (a banned user's own connection closes when it sees it,
on whichever server it is) and kept in the audit log.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from ..broker import topics
from ..db.base import utcnow
from ..errors import BadRequest, Conflict, Forbidden, NotFound
from ..services import Services
from ..streams import service as streams
from ..users import service as users
from ..users.schemas import User
from . import rules
from .hub import room_lock
from .models import (
    ChatMessageRow,
    ModerationLogRow,
    ModeratorRow,
    RestrictionRow,
    unstored_messages,
)
from .schemas import Action, Moderation, ModerationEntry, Role, RoomModes


async def _actor_role(session: AsyncSession, stream_id: str, actor: User) -> tuple[Role, str]:
    """The actor's role and the stream's owner; ``Forbidden`` unless a moderator or owner."""
    stream = await streams.find_stream(session, stream_id)
    role = await rules.role_in(session, stream.owner_id, stream_id, actor.id)
    if role is Role.viewer:
        raise Forbidden("only the stream's moderators and owner may moderate its chat")
    return role, stream.owner_id


async def _target(
    session: AsyncSession, stream_id: str, actor: User, role: Role, owner_id: str, user_id: str
) -> str:
    """Check that ``actor`` may act on ``user_id`` (an existing user); return their name."""
    if user_id == actor.id:
        raise BadRequest("you cannot moderate yourself")
    if user_id == owner_id:
        raise Forbidden("nobody can moderate the stream's owner")
    target_role = await rules.role_in(session, owner_id, stream_id, user_id)
    if target_role is Role.moderator and role is not Role.owner:
        raise Forbidden("only the owner can act on a moderator")
    return (await users.find_user(session, user_id)).name


async def _record(
    services: Services,
    session: AsyncSession,
    stream_id: str,
    action: Moderation,
    detail: dict[str, Any] | None = None,
) -> int:
    """Commit the change with its log entry, broadcast it, and note the event's id."""
    fields = action.model_dump(exclude={"modes", "word_count", "until"})
    row = ModerationLogRow(stream_id=stream_id, detail=json.dumps(detail or {}), **fields)
    session.add(row)
    try:
        await session.commit()
    except IntegrityError:  # the same change, made by someone else since we looked
        raise Conflict("someone changed this at the same moment; look again") from None
    data = action.model_dump(mode="json")
    event = await services.broker.publish(topics.chat(stream_id), "moderation", data)
    await session.execute(
        update(ModerationLogRow).where(ModerationLogRow.id == row.id).values(event_id=event.id)
    )
    await session.commit()
    return event.id


async def delete_message(services: Services, stream_id: str, actor: User, message_id: int) -> int:
    """Remove a message for everyone: clients drop it, the history and replays skip it."""
    await unstored_messages(services.store).flushed()  # the message may have just been sent
    async with room_lock(services, stream_id), services.store.session() as session:
        role, owner_id = await _actor_role(session, stream_id, actor)
        row = await session.get(ChatMessageRow, (stream_id, message_id))
        if row is None or row.deleted_at is not None:
            raise NotFound("message", str(message_id))
        if row.user_id == owner_id and role is not Role.owner:
            raise Forbidden("only the owner can delete the owner's messages")
        row.deleted_at = utcnow()
        action = Moderation(
            action=Action.delete,
            actor_id=actor.id,
            actor_name=actor.name,
            target_user_id=row.user_id,
            target_name=row.user_name,
            message_id=message_id,
        )
        return await _record(services, session, stream_id, action)


async def restrict(
    services: Services,
    stream_id: str,
    actor: User,
    user_id: str,
    seconds: int | None,
    reason: str = "",
) -> int:
    """Time ``user_id`` out for ``seconds``, or ban them (``seconds`` None)."""
    async with services.store.session() as session:
        role, owner_id = await _actor_role(session, stream_id, actor)
        name = await _target(session, stream_id, actor, role, owner_id, user_id)
        row = await session.get(RestrictionRow, (stream_id, user_id))
        if row is not None and row.until is None:
            raise Conflict("they are banned already (unban them first)")
        if seconds is None:  # a banned moderator is a moderator no more
            await session.execute(
                delete(ModeratorRow).where(
                    ModeratorRow.stream_id == stream_id, ModeratorRow.user_id == user_id
                )
            )
        until = None if seconds is None else utcnow() + timedelta(seconds=seconds)
        if row is None:
            row = RestrictionRow(stream_id=stream_id, user_id=user_id)
            session.add(row)
        row.until, row.reason, row.created_at = until, reason, utcnow()
        action = Moderation(
            action=Action.ban if seconds is None else Action.timeout,
            actor_id=actor.id,
            actor_name=actor.name,
            target_user_id=user_id,
            target_name=name,
            seconds=seconds,
            until=until,
            reason=reason,
        )
        kept = None if until is None else {"until": until.isoformat()}  # the log keeps it too
        return await _record(services, session, stream_id, action, kept)


async def unban(services: Services, stream_id: str, actor: User, user_id: str) -> int:
    """Lift a ban or a timeout."""
    async with services.store.session() as session:
        role, owner_id = await _actor_role(session, stream_id, actor)
        name = await _target(session, stream_id, actor, role, owner_id, user_id)
        row = await session.get(RestrictionRow, (stream_id, user_id))
        if row is None:
            raise Conflict("they are neither banned nor timed out")
        await session.delete(row)
        action = Moderation(
            action=Action.unban,
            actor_id=actor.id,
            actor_name=actor.name,
            target_user_id=user_id,
            target_name=name,
        )
        return await _record(services, session, stream_id, action)


async def set_modes(
    services: Services,
    stream_id: str,
    actor: User,
    slow_seconds: int | None = None,
    emote_only: bool | None = None,
    links_allowed: bool | None = None,
) -> int:
    """Change some of the room's modes; the others stay as they are."""
    async with services.store.session() as session:
        await _actor_role(session, stream_id, actor)
        if slow_seconds is None and emote_only is None and links_allowed is None:
            raise BadRequest("name a mode to change: slow_seconds, emote_only or links_allowed")
        room = await rules.room_row(session, stream_id)
        if slow_seconds is not None:
            room.slow_seconds = slow_seconds
        if emote_only is not None:
            room.emote_only = emote_only
        if links_allowed is not None:
            room.links_allowed = links_allowed
        modes = RoomModes(
            slow_seconds=room.slow_seconds,
            emote_only=room.emote_only,
            links_allowed=room.links_allowed,
        )
        action = Moderation(
            action=Action.modes, actor_id=actor.id, actor_name=actor.name, modes=modes
        )
        return await _record(services, session, stream_id, action, modes.model_dump())


async def set_banned_words(
    services: Services, stream_id: str, actor: User, words: list[str]
) -> int:
    """Replace the room's banned words (masked in every message from now on). The list is
    broadcast as a count only; moderators read it in the log and on authenticating."""
    cleaned = sorted({word.strip().lower() for word in words if word.strip()})
    async with services.store.session() as session:
        await _actor_role(session, stream_id, actor)
        room = await rules.room_row(session, stream_id)
        room.banned_words = json.dumps(cleaned)
        action = Moderation(
            action=Action.banned_words,
            actor_id=actor.id,
            actor_name=actor.name,
            word_count=len(cleaned),
        )
        return await _record(services, session, stream_id, action, {"words": cleaned})


async def set_moderator(
    services: Services, stream_id: str, actor: User, user_id: str, moderator: bool
) -> int:
    """The owner appoints (or removes) a moderator."""
    async with services.store.session() as session:
        role, owner_id = await _actor_role(session, stream_id, actor)
        if role is not Role.owner:
            raise Forbidden("only the stream's owner appoints moderators")
        name = await _target(session, stream_id, actor, role, owner_id, user_id)
        row = await session.get(ModeratorRow, (stream_id, user_id))
        if moderator and row is None:
            if await rules.restriction(session, stream_id, user_id) is not None:
                raise Conflict("they are banned or timed out (unban them first)")
            session.add(ModeratorRow(stream_id=stream_id, user_id=user_id))
        elif not moderator and row is not None:
            await session.delete(row)
        else:
            state = "a moderator already" if moderator else "not a moderator"
            raise Conflict(f"they are {state}")
        action = Moderation(
            action=Action.moderator_added if moderator else Action.moderator_removed,
            actor_id=actor.id,
            actor_name=actor.name,
            target_user_id=user_id,
            target_name=name,
        )
        return await _record(services, session, stream_id, action)


async def moderation_log(
    services: Services, stream_id: str, reader: User, limit: int = 50, before: int | None = None
) -> list[ModerationEntry]:
    """The room's audit log, newest first (moderators and the owner only)."""
    async with services.store.session() as session:
        await _actor_role(session, stream_id, reader)
        query = select(ModerationLogRow).where(ModerationLogRow.stream_id == stream_id)
        if before is not None:
            query = query.where(ModerationLogRow.id < before)
        query = query.order_by(ModerationLogRow.id.desc()).limit(limit)
        rows = (await session.scalars(query)).all()
    return [_entry(row) for row in rows]


def _entry(row: ModerationLogRow) -> ModerationEntry:
    detail = json.loads(row.detail)
    words = detail.get("words") if row.action == Action.banned_words else None
    modes = RoomModes.model_validate(detail) if row.action == Action.modes else None
    return ModerationEntry(
        id=row.id,
        event_id=row.event_id,
        action=Action(row.action),
        actor_id=row.actor_id,
        actor_name=row.actor_name,
        target_user_id=row.target_user_id,
        target_name=row.target_name,
        message_id=row.message_id,
        seconds=row.seconds,
        until=detail.get("until"),
        reason=row.reason,
        modes=modes,
        word_count=None if words is None else len(words),
        words=words,
        created_at=row.created_at,
    )


async def comment_refusal(services: Services, stream_id: str, user_id: str) -> str | None:
    """Why the user may not comment on the stream now (banned, or timed out: a timeout in
    the chat holds in the comments next to it), or None."""
    async with services.store.session() as session:
        row = await rules.restriction(session, stream_id, user_id)
    if row is None:
        return None
    left = rules.seconds_left(row)
    if left is None:
        return "you are banned from this stream's chat and comments"
    return f"you are timed out of this stream's chat and comments for {left:.0f} more s"


async def is_banned(services: Services, stream_id: str, user_id: str) -> bool:
    """Banned from the stream's chat (and so from its comments); a timeout is not a ban."""
    async with services.store.session() as session:
        row = await session.get(RestrictionRow, (stream_id, user_id))
    return row is not None and row.until is None
