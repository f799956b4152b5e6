"""The chat's tables: messages keyed by their broker id, moderators, bans and timeouts, each
room's modes, and the moderation audit log.

A message's id is the id the broker gave its event (ids increase within the stream's chat
topic and start from the clock, so ids written before a restart stay below those after it):
the history a client gets on join and the ``since`` it reconnects with speak of one id.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    insert,
)
from sqlalchemy.orm import Mapped, mapped_column

from ..db.base import Base, utcnow
from ..db.behind import WriteBehind
from ..db.store import Store


class ChatMessageRow(Base):
    __tablename__ = "chat_messages"
    __table_args__ = (Index("ix_chat_messages_author", "stream_id", "user_id", "id"),)

    stream_id: Mapped[str] = mapped_column(ForeignKey("streams.id"), primary_key=True)
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    user_name: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class ModeratorRow(Base):
    """Appointed by the stream's owner (who is a moderator without a row)."""

    __tablename__ = "chat_moderators"

    stream_id: Mapped[str] = mapped_column(ForeignKey("streams.id"), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class RestrictionRow(Base):
    """A ban (``until`` is None) or a timeout (until ``until``) of one user in one room."""

    __tablename__ = "chat_restrictions"

    stream_id: Mapped[str] = mapped_column(ForeignKey("streams.id"), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), primary_key=True)
    until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class RoomRow(Base):
    """A room's modes; a room without a row has the defaults (``schemas.RoomModes``)."""

    __tablename__ = "chat_rooms"

    stream_id: Mapped[str] = mapped_column(ForeignKey("streams.id"), primary_key=True)
    slow_seconds: Mapped[int] = mapped_column(Integer, default=0)
    emote_only: Mapped[bool] = mapped_column(Boolean, default=False)
    links_allowed: Mapped[bool] = mapped_column(Boolean, default=True)
    banned_words: Mapped[str] = mapped_column(Text, default="[]")
    """A JSON list of lower-case words."""


class ModerationLogRow(Base):
    """One moderation action, as it was broadcast (the audit log)."""

    __tablename__ = "chat_moderation_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    stream_id: Mapped[str] = mapped_column(ForeignKey("streams.id"), index=True)
    event_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    action: Mapped[str] = mapped_column(String(32))
    actor_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    actor_name: Mapped[str] = mapped_column(String(64))
    target_user_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    target_name: Mapped[str | None] = mapped_column(String(64), nullable=True)
    message_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    seconds: Mapped[int | None] = mapped_column(Integer, nullable=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    detail: Mapped[str] = mapped_column(Text, default="{}")
    """JSON: the modes set, or the banned words (moderators read them here)."""
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


INSERT_MESSAGE = insert(ChatMessageRow)
"""A message's row (its values bound per batch: the statement compiles once, from cache)."""


def unstored_messages(store: Store) -> WriteBehind:
    """Messages published and queued to be stored in batches (``db.behind``): a reader of
    ``chat_messages`` flushes it first, or looks at what is still pending."""
    return store.write_behind(ChatMessageRow.__tablename__, INSERT_MESSAGE)
