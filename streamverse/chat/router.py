"""``WS /streams/{id}/chat`` and ``GET /streams/{id}/moderation/log``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from starlette.routing import WebSocketRoute
from starlette.types import Receive, Scope, Send

from ..errors import ErrorBody
from ..services import ServicesDep, services_of
from ..streams.router import MAX_SQL_INT, NOT_FOUND
from ..users.auth import UNAUTHORIZED, CurrentUser
from . import handshake, moderation
from .schemas import ModerationEntry

router = APIRouter(prefix="/streams", tags=["chat"])


class ChatEndpoint:
    """``WS /streams/{stream_id}/chat``: the stream's chat room (docs/chat-protocol.md).
    Anyone may read; send ``{"type": "auth", "token": ...}`` first to post. ``?since=<id>``
    resumes after the last message received.

    An ASGI endpoint on a plain Starlette route rather than ``@router.websocket``: a chat
    connection lives for hours, and FastAPI's dependency machinery would stay on its stack
    all that time (``bench/bench_chat.py`` measures what a connection costs); and the
    connection sends its hot path straight through the ASGI ``send``.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await handshake.serve(services_of(scope["app"]), scope, receive, send)


router.routes.append(WebSocketRoute("/streams/{stream_id}/chat", ChatEndpoint(), name="chat"))


@router.get(
    "/{stream_id}/moderation/log",
    response_model=list[ModerationEntry],
    responses={
        **UNAUTHORIZED,
        **NOT_FOUND,
        403: {"model": ErrorBody, "description": "Only moderators and the owner may read it"},
    },
)
async def moderation_log(
    stream_id: str,
    user: CurrentUser,
    services: ServicesDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    before: Annotated[
        int | None, Query(ge=1, le=MAX_SQL_INT, description="Entries older than this entry id")
    ] = None,
) -> list[ModerationEntry]:
    """The chat's moderation actions, newest first: who did what to whom, and when."""
    return await moderation.moderation_log(services, stream_id, user, limit, before)
