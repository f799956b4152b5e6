"""What a client sends on a chat WebSocket (one model per command), and how connections end.

Each client message is one JSON object in a text frame, with a ``type``. Every command may
carry a ``ref`` (a string of the client's choosing) that the ``ack`` or ``error`` answering
it echoes, so a client can tell which of its commands failed. Parsing is strict (OWASP:
validate every message): unknown fields, wrong types and unknown commands are errors, which
the server answers with an ``error`` message, leaving the connection open.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import ConfigDict, Field, StringConstraints, TypeAdapter, ValidationError

from ..schemas import Schema
from .schemas import ErrorData

MAX_SQL_INT = 2**63 - 1
UserId = Annotated[str, StringConstraints(min_length=1, max_length=32)]
Reason = Annotated[str, Field(max_length=200)]


class Command(Schema):
    model_config = ConfigDict(extra="forbid", strict=True)

    ref: str | None = Field(None, max_length=64, description="Echoed in the ack or error.")


class Auth(Command):
    """First message: who is speaking (the token from ``POST /users``)."""

    type: Literal["auth"]
    token: str = Field(max_length=256)


class Send(Command):
    """Post a chat message. Its length is the room's to judge (``chat_max_length``, answered
    with ``too_long``); the frame limit already bounds what is read."""

    type: Literal["send"]
    text: str


class Ping(Command):
    """Answered with ``pong``: a liveness check for clients that cannot send protocol pings
    (browsers)."""

    type: Literal["ping"]


class Delete(Command):
    """Moderators: remove a message for everyone (and from the history)."""

    type: Literal["delete"]
    message_id: int = Field(ge=0, le=MAX_SQL_INT)


class Timeout(Command):
    """Moderators: the user may not post for ``seconds`` (they can still read)."""

    type: Literal["timeout"]
    user_id: UserId
    seconds: int = Field(ge=1, le=14 * 24 * 3600)
    reason: Reason = ""


class Ban(Command):
    """Moderators: the user is disconnected and may not rejoin nor comment."""

    type: Literal["ban"]
    user_id: UserId
    reason: Reason = ""


class Unban(Command):
    """Moderators: lift a ban or a timeout."""

    type: Literal["unban"]
    user_id: UserId


class SetModes(Command):
    """Moderators: change some of the room's modes (fields left out stay as they are)."""

    type: Literal["modes"]
    slow_seconds: int | None = Field(None, ge=0, le=3600)
    emote_only: bool | None = None
    links_allowed: bool | None = None


class SetBannedWords(Command):
    """Moderators: the room's banned words (replaces the list). Matching words are masked."""

    type: Literal["banned_words"]
    words: list[Annotated[str, StringConstraints(min_length=1, max_length=50)]] = Field(
        max_length=200
    )


class SetModerator(Command):
    """The owner: appoint (``moderator: true``) or remove a moderator."""

    type: Literal["moderator"]
    user_id: UserId
    moderator: bool


ClientMessage = Annotated[
    Auth | Send | Ping | Delete | Timeout | Ban | Unban | SetModes | SetBannedWords | SetModerator,
    Field(discriminator="type"),
]
COMMANDS: TypeAdapter[ClientMessage] = TypeAdapter(ClientMessage)
COMMAND_TYPES: tuple[str, ...] = ("auth", "send", "ping", "delete", "timeout", "ban", "unban")
COMMAND_TYPES += ("modes", "banned_words", "moderator")


def parse(text: str) -> ClientMessage | ErrorData:
    """The command in ``text``, or the ``error`` to answer it with."""
    try:
        return COMMANDS.validate_json(text)
    except ValidationError as invalid:
        return _explain(invalid, text)


def _explain(invalid: ValidationError, text: str) -> ErrorData:
    errors = invalid.errors(include_url=False)
    kind = errors[0]["type"]
    if kind == "json_invalid":
        return ErrorData(code="invalid_json", detail="not JSON: send one JSON object per frame")
    try:
        raw = json.loads(text)
    except ValueError:
        raw = None
    ref = raw.get("ref") if isinstance(raw, dict) else None
    ref = ref[:64] if isinstance(ref, str) else None
    if kind == "union_tag_invalid":
        got = str(raw.get("type"))[:40] if isinstance(raw, dict) else "?"
        known = ", ".join(COMMAND_TYPES)
        detail = f"unknown message type {got!r}; known types: {known}"
        return ErrorData(code="unknown_type", detail=detail, ref=ref)
    if kind == "union_tag_not_found" or not isinstance(raw, dict):
        detail = 'a message is a JSON object with a "type", e.g. {"type": "ping"}'
        return ErrorData(code="invalid_message", detail=detail, ref=ref)
    problems = "; ".join(
        f"{'.'.join(str(part) for part in error['loc'][1:]) or 'message'}: {error['msg']}"
        for error in errors[:3]
    )
    return ErrorData(code="invalid_message", detail=problems, ref=ref)


def over_limit(text: str | None, data: bytes | None, limit: int) -> bool:
    """Whether a received message (text, else binary) is over ``limit`` bytes. A character
    is at most 4 bytes in UTF-8, so only a text that might be over is encoded."""
    if text is None:
        return len(data or b"") > limit
    return len(text) > limit // 4 and len(text.encode()) > limit


@dataclass(frozen=True, slots=True)
class Close:
    """How the server ends a connection: a WebSocket close code and a reason in words."""

    code: int
    reason: str


NORMAL = 1000
"""The stream ended (or the client left)."""
POLICY = 1008
"""Unknown stream, a malformed ``since``, or the user is banned: do not reconnect as is."""
TOO_BIG = 1009
"""A message over ``chat_max_frame_bytes``."""
RESTART = 1012
"""The server is shutting down: reconnect later with ``since``."""
TRY_LATER = 1013
"""Too many connections for this user or address: close one, then retry."""
SLOW = 3008
"""The client fell too far behind (Centrifugo's code): reconnect with ``since``."""
