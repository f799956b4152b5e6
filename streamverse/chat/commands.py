"""What a connection does with each command its client sends.

Every command is parsed strictly (``protocol.parse``) and answered: ``ack`` when done,
``error`` (with a code, words and maybe ``retry_after``) when refused; either way the
connection stays open. Who may do what is checked on every command, against the database
(``service``/``moderation``), not remembered from the connect. Only a few outcomes end a
connection: a banned user authenticating, or one connection too many for a user.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from ..errors import ServiceError
from ..users import service as users
from . import moderation, protocol, service
from .errors import ChatRefused, error_data
from .protocol import POLICY, TRY_LATER, Close
from .schemas import (
    Ack,
    AckData,
    Action,
    Authenticated,
    AuthenticatedData,
    ErrorData,
    Pong,
    PongData,
    Role,
)

if TYPE_CHECKING:
    from .connection import ChatConnection

logger = logging.getLogger("streamverse.chat")
BANNED = Close(POLICY, "you are banned from this chat")


async def handle(connection: ChatConnection, text: str) -> Close | None:
    """Parse and carry out one client message; the close that ends the connection, if any."""
    command = protocol.parse(text)
    if isinstance(command, ErrorData):
        await connection.reply_error(command)
        return None
    try:
        if isinstance(command, protocol.Ping):
            await connection.send_model(Pong(data=PongData(ref=command.ref)))
            return None
        if isinstance(command, protocol.Auth):
            return await authenticate(connection, command)
        published = await act(connection, command)
    except ServiceError as refused:
        await connection.reply_error(error_data(refused, command.ref))
        return None
    except asyncio.CancelledError:
        raise
    except Exception:  # a bug, not bad input: say so and keep the connection
        logger.exception("chat command %s failed", command.type)
        detail = "the server failed to handle that; try again"
        await connection.reply_error(ErrorData(code="internal", detail=detail, ref=command.ref))
        return None
    await connection.send_model(Ack(data=AckData(ref=command.ref, id=published)))
    return None


async def authenticate(connection: ChatConnection, command: protocol.Auth) -> Close | None:
    settings = connection.settings
    if connection.user is not None:
        detail = f"already signed in as {connection.user.name}"
        await connection.reply_error(
            ErrorData(code="already_authenticated", detail=detail, ref=command.ref)
        )
        return None
    waited = asyncio.get_running_loop().time() - connection.connected_at
    if waited > settings.chat_auth_timeout_seconds:
        limit = settings.chat_auth_timeout_seconds
        detail = f"sign in within {limit:g} s of connecting; reconnect to sign in (reading works)"
        await connection.reply_error(ErrorData(code="auth_timeout", detail=detail, ref=command.ref))
        return None
    user = await users.authenticate(connection.services, command.token)
    services, stream_id = connection.services, connection.stream_id
    if await moderation.is_banned(services, stream_id, user.id):
        return BANNED
    limit = settings.chat_max_connections_per_user
    if not connection.hub.per_user.acquire(user.id, limit):
        return Close(TRY_LATER, f"too many chat connections for {user.name} (at most {limit})")
    role, words = await service.role_and_words(services, stream_id, connection.owner_id, user.id)
    connection.sign_in(user, role)
    data = AuthenticatedData(
        user_id=user.id,
        user_name=user.name,
        role=role,
        rate_messages=service.rate_for(services, role),
        rate_seconds=settings.chat_rate_seconds,
        banned_words=None if role is Role.viewer else list(words),
        ref=command.ref,
    )
    await connection.send_model(Authenticated(data=data))
    return None


async def act(connection: ChatConnection, command: protocol.ClientMessage) -> int:
    """Carry out a command that needs a signed-in user; the id of what it published."""
    user = connection.user
    if user is None:
        raise ChatRefused(
            "not_authenticated", 'send {"type": "auth", "token": ...} first; until then, read only'
        )
    services, stream_id = connection.services, connection.stream_id
    match command:
        case protocol.Send(text=text):
            return await service.post_message(services, stream_id, user, text)
        case protocol.Delete(message_id=message_id):
            return await moderation.delete_message(services, stream_id, user, message_id)
        case protocol.Timeout(user_id=target, seconds=seconds, reason=reason):
            return await moderation.restrict(services, stream_id, user, target, seconds, reason)
        case protocol.Ban(user_id=target, reason=reason):
            return await moderation.restrict(services, stream_id, user, target, None, reason)
        case protocol.Unban(user_id=target):
            return await moderation.unban(services, stream_id, user, target)
        case protocol.SetModes():
            return await moderation.set_modes(
                services,
                stream_id,
                user,
                command.slow_seconds,
                command.emote_only,
                command.links_allowed,
            )
        case protocol.SetBannedWords(words=words):
            return await moderation.set_banned_words(services, stream_id, user, words)
        case protocol.SetModerator(user_id=target, moderator=moderator):
            return await moderation.set_moderator(services, stream_id, user, target, moderator)
    raise AssertionError(f"unhandled command {command.type}")


def concerns_me(connection: ChatConnection, data: Any) -> Close | None:
    """A moderation event about this connection's user: a ban ends the connection, a
    change of role is remembered (every command re-checks it anyway)."""
    user = connection.user
    if user is None or data.get("target_user_id") != user.id:
        return None
    action = data.get("action")
    if action == Action.ban:
        return BANNED
    if action == Action.moderator_added:
        connection.role = Role.moderator
    elif action == Action.moderator_removed:
        connection.role = Role.viewer
    return None
