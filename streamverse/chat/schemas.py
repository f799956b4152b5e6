"""What the server sends on a chat WebSocket, one Pydantic model per message type.

Every message is one JSON object in one text frame: ``{"type": ..., "data": {...}}``, and
messages that come from the room's broker topic (everyone gets them) also carry the
``id`` the broker gave them, the id a client reconnects with (``?since=<id>``). Replies to
one client (``welcome``, ``authenticated``, ``history``, ``ack``, ``pong``, ``error``) have
no id. ``docs/chat-protocol.md`` is the guide; ``protocol.py`` holds what clients send.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field, TypeAdapter

from ..schemas import Schema, UTCDateTime


class Role(StrEnum):
    owner = "owner"
    moderator = "moderator"
    viewer = "viewer"


class Action(StrEnum):
    """What a ``moderation`` message reports (and an audit-log entry records)."""

    delete = "delete"
    timeout = "timeout"
    ban = "ban"
    unban = "unban"
    modes = "modes"
    banned_words = "banned_words"
    moderator_added = "moderator_added"
    moderator_removed = "moderator_removed"


class RoomModes(Schema):
    """A room's modes, set by its moderators. (Followers-only comes with follows.)"""

    slow_seconds: int = Field(0, ge=0, le=3600, description="One message per this, 0: off.")
    emote_only: bool = Field(False, description="Only :emote: codes and emoji.")
    links_allowed: bool = Field(True, description="False: messages with links are refused.")


# -- the data of each message -----------------------------------------------------------------


class ChatMessage(Schema):
    """One chat message; its id is the envelope's (``Chat.id``)."""

    stream_id: str
    user_id: str = Field(description="Always the authenticated author: never from the client.")
    user_name: str
    role: Role
    text: str = Field(description="As shown: banned words are already masked with *.")
    created_at: UTCDateTime


class Moderation(Schema):
    """One moderation action, as broadcast to the room and kept in the audit log."""

    action: Action
    actor_id: str
    actor_name: str
    target_user_id: str | None = None
    target_name: str | None = None
    message_id: int | None = Field(None, description="The chat message deleted.")
    seconds: int | None = Field(None, description="How long a timeout lasts.")
    until: UTCDateTime | None = Field(None, description="When a timeout ends.")
    reason: str = ""
    modes: RoomModes | None = Field(None, description="The room's modes after a modes action.")
    word_count: int | None = Field(None, description="How many words are banned now.")


class ModerationEntry(Moderation):
    """An audit-log entry (``GET /streams/{id}/moderation/log``)."""

    id: int = Field(description="The entry's id, for paging with ?before=")
    event_id: int | None = Field(description="The id of the moderation message broadcast.")
    words: list[str] | None = Field(None, description="The banned words (moderators only).")
    created_at: UTCDateTime


class WelcomeData(Schema):
    stream_id: str
    viewers: int = Field(description="People watching the stream now (presence).")
    modes: RoomModes
    auth_within_seconds: float = Field(description="Send {type: auth} within this to post.")
    max_length: int = Field(description="Longest message accepted, in characters.")


class AuthenticatedData(Schema):
    user_id: str
    user_name: str
    role: Role
    rate_messages: int = Field(description="Messages allowed per rate_seconds.")
    rate_seconds: float
    banned_words: list[str] | None = Field(None, description="Moderators and the owner only.")
    ref: str | None = None


class Chat(Schema):
    """A chat message (live, replayed after a reconnect, or inside a ``history``)."""

    type: Literal["chat"] = "chat"
    id: int
    data: ChatMessage


class HistoryData(Schema):
    messages: list[Chat] = Field(description="The newest messages, oldest first.")
    last_id: int = Field(description="Resume point: reconnect with ?since=<the last id seen>.")


class PresenceData(Schema):
    viewers: int


class ResetData(Schema):
    reason: str
    last_id: int


class EndedData(Schema):
    reason: str


class AckData(Schema):
    ref: str | None = Field(None, description="The command's ref, echoed.")
    id: int | None = Field(None, description="Id of the message the command published.")


class PongData(Schema):
    ref: str | None = None


class ErrorData(Schema):
    code: str = Field(examples=["rate_limited"], description="Machine-readable; see the docs.")
    detail: str = Field(description="What went wrong, in words, for a person.")
    retry_after: float | None = Field(None, description="Seconds until it may be tried again.")
    ref: str | None = None


# -- the messages ---------------------------------------------------------------------------


class Welcome(Schema):
    """First message on every connection."""

    type: Literal["welcome"] = "welcome"
    data: WelcomeData


class Authenticated(Schema):
    """The answer to a valid ``auth``: from now on this connection may post."""

    type: Literal["authenticated"] = "authenticated"
    data: AuthenticatedData


class History(Schema):
    """The newest messages on join (and after a reset)."""

    type: Literal["history"] = "history"
    data: HistoryData


class ModerationMessage(Schema):
    type: Literal["moderation"] = "moderation"
    id: int
    data: Moderation


class Presence(Schema):
    """Sent when the number of viewers changed (coalesced: at most one per interval)."""

    type: Literal["presence"] = "presence"
    id: int
    data: PresenceData


class Reset(Schema):
    """The ``since`` could not be bridged (too old, or the server restarted): a ``history``
    follows; resume from ``data.last_id`` from then on."""

    type: Literal["reset"] = "reset"
    id: int
    data: ResetData


class Ended(Schema):
    """The stream ended; the server closes with 1000 next."""

    type: Literal["ended"] = "ended"
    id: int | None = None
    data: EndedData


class Ack(Schema):
    type: Literal["ack"] = "ack"
    data: AckData


class Pong(Schema):
    type: Literal["pong"] = "pong"
    data: PongData


class Error(Schema):
    """A command refused. The connection stays open."""

    type: Literal["error"] = "error"
    data: ErrorData


ServerMessage = Annotated[
    Welcome
    | Authenticated
    | History
    | Chat
    | ModerationMessage
    | Presence
    | Reset
    | Ended
    | Ack
    | Pong
    | Error,
    Field(discriminator="type"),
]
SERVER_MESSAGES: TypeAdapter[ServerMessage] = TypeAdapter(ServerMessage)
"""``SERVER_MESSAGES.validate_json(frame)``: a client's typed view of what it received."""
