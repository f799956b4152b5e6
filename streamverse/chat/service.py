"""Chat: post a message (checked, filtered, published, persisted, counted), join a room
(subscribe, then the history, with no gap), and the wire form of a room's events.

A message is published first, because its id is the one the broker gives it, and queued
to be stored with that id (``models.unstored_messages``: many messages a transaction, and
the poster does not wait for the commit), both under the room's lock. A client joining
takes the same lock to subscribe, and the history it then reads waits for that queue, so
every message up to the id its subscription starts from is in the database by then:
nothing falls between the history and the live events.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from collections.abc import Set as AbstractSet
from contextlib import asynccontextmanager
from dataclasses import dataclass

from sqlalchemy import select

from ..broker import RESET, Event, Subscription, topics
from ..db.base import utcnow
from ..services import Services
from ..streams.schemas import StreamStatus
from ..users.schemas import User
from . import rules
from .errors import ChatRefused, RateLimited
from .filters import Draft, MessageFilter, Verdict, run_filters
from .hub import hub_of, room_lock
from .models import ChatMessageRow, unstored_messages
from .moderation import comment_refusal, is_banned
from .schemas import Chat, ChatMessage, Role, RoomModes, Welcome, WelcomeData

__all__ = [
    "add_filter",
    "comment_refusal",
    "is_banned",
    "post_message",
    "recent_messages",
    "remove_filter",
]


def rate_for(services: Services, role: Role) -> int:
    settings = services.settings
    if role is Role.viewer:
        return settings.chat_rate_messages
    return settings.chat_rate_messages_moderator


async def post_message(services: Services, stream_id: str, author: User, text: str) -> int:
    """Check, filter, publish and store a message by ``author``; returns its id.

    Raises ``ChatRefused`` (its ``code`` says why: ``too_long``, ``banned``, ``timed_out``,
    ``slow_mode``, ``rate_limited``, ``emote_only``, ``links_off``, ...) and ``NotFound``.

    A room's messages go out one after another, so this is the chat's hot path: one query
    on a plain connection reads the stream and the author's standing (through an ORM
    session it cost more hops to the database thread and more CPU), and the row is queued
    to be stored with the messages around it, not committed alone while the room waits.
    """
    settings = services.settings
    text = text.strip()
    if not text:
        raise ChatRefused("empty", "a message needs some text")
    if len(text) > settings.chat_max_length:
        limit = settings.chat_max_length
        raise ChatRefused("too_long", f"at most {limit} characters (this has {len(text)})")
    # What is still queued is looked at *before* the table: a row stored in between is then
    # in the table, where the standing query sees it (the other order could miss it).
    unstored = unstored_messages(services.store)
    queued_post = rules.latest_post(unstored.pending(), stream_id, author.id)
    async with services.store.engine.connect() as connection:
        standing = await rules.standing(connection, stream_id, author.id)
    if standing.stream_status == StreamStatus.ended:
        raise ChatRefused("stream_ended", "the stream has ended; its chat is closed")
    role = Role.owner if author.id == standing.owner_id else Role.viewer
    if role is Role.viewer and standing.moderator:
        role = Role.moderator
    if standing.restricted:
        if standing.until is None:
            raise ChatRefused("banned", "you are banned from this chat")
        left = (standing.until - utcnow()).total_seconds()
        if left > 0:
            raise ChatRefused("timed_out", f"you are timed out for {left:.0f} more s", left)
    modes = standing.modes
    last_post = queued_post or standing.last_post
    if modes.slow_seconds and role is Role.viewer and last_post is not None:
        wait = modes.slow_seconds - (utcnow() - last_post).total_seconds()
        if wait > 0:
            every = modes.slow_seconds
            raise ChatRefused("slow_mode", f"slow mode: one message every {every} s", wait)
    hub = hub_of(services)
    capacity = rate_for(services, role)
    wait = hub.limiter.take((stream_id, author.id), capacity, settings.chat_rate_seconds)
    if wait > 0:
        per = f"{capacity} messages per {settings.chat_rate_seconds:g} s"
        raise RateLimited("rate_limited", f"slow down: {per}; wait {wait:.1f} s", wait)
    draft = Draft(stream_id, author.id, author.name, role, text, modes, standing.banned_words)
    checked = run_filters(hub.filters, draft)
    if isinstance(checked, Verdict):
        raise ChatRefused(checked.code, checked.refused or "refused by a filter")
    message = ChatMessage(
        stream_id=stream_id,
        user_id=author.id,
        user_name=author.name,
        role=role,
        text=checked.text,
        created_at=utcnow(),
    )
    async with room_lock(services, stream_id):
        event = await services.broker.publish(
            topics.chat(stream_id), "chat", message.model_dump(mode="json")
        )
        await unstored.add({"id": event.id, **message.model_dump()})
    services.activity.record(stream_id)
    return event.id


async def room_rules(services: Services, stream_id: str) -> tuple[RoomModes, tuple[str, ...]]:
    """The room's modes and banned words."""
    async with services.store.session() as session:
        return await rules.room_rules(session, stream_id)


async def role_and_words(
    services: Services, stream_id: str, owner_id: str, user_id: str
) -> tuple[Role, tuple[str, ...]]:
    """The user's role in the room, and the room's banned words."""
    async with services.store.session() as session:
        role = await rules.role_in(session, owner_id, stream_id, user_id)
        _, words = await rules.room_rules(session, stream_id)
    return role, words


async def recent_messages(
    services: Services, stream_id: str, count: int, up_to: int | None = None
) -> list[Chat]:
    """The newest ``count`` messages not deleted (with ids up to ``up_to``), oldest first."""
    if count <= 0:
        return []
    query = select(ChatMessageRow).where(
        ChatMessageRow.stream_id == stream_id, ChatMessageRow.deleted_at.is_(None)
    )
    if up_to is not None:
        query = query.where(ChatMessageRow.id <= up_to)
    await unstored_messages(services.store).flushed()
    async with services.store.session() as session:
        rows = (await session.execute(query.order_by(ChatMessageRow.id.desc()).limit(count))).all()
    return [Chat(id=row.id, data=ChatMessage.model_validate(row)) for (row,) in reversed(rows)]


async def deleted_after(services: Services, stream_id: str, since: int) -> set[int]:
    """Ids above ``since`` of messages deleted since: a replay must not bring them back.
    (A message still queued to be stored is not deleted: deleting one flushes the queue.)"""
    async with services.store.session() as session:
        query = select(ChatMessageRow.id).where(
            ChatMessageRow.stream_id == stream_id,
            ChatMessageRow.id > since,
            ChatMessageRow.deleted_at.is_not(None),
        )
        return set((await session.scalars(query)).all())


@dataclass
class Joined:
    """A room joined: its subscription, and what to send before its events."""

    subscription: Subscription
    history: list[Chat] | None
    """The newest messages (a join without ``since``); None: the subscription replays."""
    hidden: AbstractSet[int] = frozenset()
    """Deleted messages the replay still holds (the broker's history is append-only)."""


@asynccontextmanager
async def join(services: Services, stream_id: str, since: int | None) -> AsyncIterator[Joined]:
    """Subscribe to the room's topic (resuming after ``since``), then read the history."""
    coalesce = services.settings.chat_coalesce_seconds
    subscribing = services.broker.subscribe(topics.chat(stream_id), since, coalesce=coalesce)
    async with room_lock(services, stream_id):
        subscription = await subscribing.__aenter__()
    try:
        if since is None:
            count, newest = services.settings.chat_history, subscription.last_id
            yield Joined(subscription, await recent_messages(services, stream_id, count, newest))
        else:
            yield Joined(subscription, None, await deleted_after(services, stream_id, since))
    except BaseException as error:
        if not await subscribing.__aexit__(type(error), error, error.__traceback__):
            raise
    else:
        await subscribing.__aexit__(None, None, None)


FRAME_BYTES = 64 * 1024
"""Messages are packed into one frame up to about this size (see ``pump``)."""


def wire(event: Event) -> str:
    """The event as sent to every client: ``{"type", "id", "data"}``, encoded once."""
    text: str | None = event.cache.get("chat")
    if text is None:
        kind = {topics.STREAM_ENDED: "ended", RESET: "reset"}.get(event.type, event.type)
        data = '{"reason":"stream ended"}' if kind == "ended" else event.json()
        text = event.cache["chat"] = f'{{"type":"{kind}","id":{event.id},"data":{data}}}'
    return text


SHARED_FRAME_BYTES = 4096
"""Frames up to this size are kept on their last event for the next connection (bounded:
at most this much per event of the broker's history)."""


def plain_frame(batch: list[Event], hidden: AbstractSet[int]) -> str | None:
    """One frame for a batch of chat messages none of which is hidden, if it fits in one
    (what a busy room sends nearly always: the pump sends it inline); None for a batch
    with anything else in it (a reset, a moderation action, the end), which ``deliver``
    goes through event by event.

    A window wakes a room's connections together, so most of them hold the same events:
    the first to ask makes the frame, and the others get that very string."""
    first, last = batch[0], batch[-1]
    # A batch is a run of one topic's events without gaps, so its last event, its first id
    # and its length name it; the type tells a reset marker (it takes the id of the event
    # it stands for) from that event. Only plain values: no event keeps an older one alive.
    key = (first.id, first.type, len(batch))
    if not hidden:
        shared = last.cache.get("frame")
        if shared is not None and shared[0] == key:
            text: str | None = shared[1]
            return text
    text = _joined(batch, hidden)
    if not hidden and (text is None or len(text) <= SHARED_FRAME_BYTES):
        last.cache["frame"] = (key, text)
    return text


def _joined(batch: list[Event], hidden: AbstractSet[int]) -> str | None:
    texts = []
    size = 0
    for event in batch:
        if event.type != "chat" or (hidden and event.id in hidden):
            return None
        text = wire(event)
        size += len(text)
        texts.append(text)
    if size >= FRAME_BYTES:
        return None
    return "\n".join(texts)


def add_filter(services: Services, check: MessageFilter) -> None:
    """Plug a filter into every room of this app (after the built-in ones)."""
    hub_of(services).extra_filters.append(check)


def remove_filter(services: Services, check: MessageFilter) -> None:
    hub = hub_of(services)
    if check in hub.extra_filters:
        hub.extra_filters.remove(check)


async def welcome(services: Services, stream_id: str) -> Welcome:
    """The first message on every connection: the room's modes and the limits it enforces."""
    modes, _ = await room_rules(services, stream_id)
    settings = services.settings
    data = WelcomeData(
        stream_id=stream_id,
        viewers=services.presence.viewers(stream_id),
        modes=modes,
        auth_within_seconds=settings.chat_auth_timeout_seconds,
        max_length=settings.chat_max_length,
    )
    return Welcome(data=data)
