"""``WS /streams/{id}/chat`` and ``GET /streams/{id}/moderation/log``."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Annotated

from fastapi import APIRouter, Query
from starlette._utils import get_route_path
from starlette.routing import WebSocketRoute, compile_path
from starlette.types import ASGIApp, Receive, Scope, Send

from ..errors import ErrorBody
from ..services import Services, ServicesDep, services_of
from ..streams.router import MAX_SQL_INT, NOT_FOUND
from ..users.auth import UNAUTHORIZED, CurrentUser
from . import handshake, moderation
from .schemas import ModerationEntry

router = APIRouter(prefix="/streams", tags=["chat"])


CHAT_PATH = "/streams/{stream_id}/chat"
_CHAT_PATH_REGEX = compile_path(CHAT_PATH)[0]


class ChatMiddleware:
    """Chat connections go straight to the handshake, in front of FastAPI's routing, as
    the SSE feeds do (``sse/feeds.py``): a chat connection lives for hours, and every layer
    of routing and exception handling it passed through would stay on its stack all that
    time and wrap each of its sends. ``bench/bench_chat.py`` measures both costs."""

    def __init__(self, app: ASGIApp, services: Services) -> None:
        self.app, self.services = app, services

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        """Not ``async``: it hands back the handshake's coroutine instead of awaiting it, so
        no frame of this middleware (nor its regex match) stays alive under a connection."""
        if scope["type"] == "websocket":
            found = _CHAT_PATH_REGEX.match(get_route_path(scope))
            if found is not None:
                scope["path_params"] = found.groupdict()  # as routing would: no copy per connection
                return handshake.serve(self.services, scope, receive, send)
        return self.app(scope, receive, send)


class ChatEndpoint:
    """``WS /streams/{stream_id}/chat``: the stream's chat room (docs/chat-protocol.md).
    Anyone may read; send ``{"type": "auth", "token": ...}`` first to post. ``?since=<id>``
    resumes after the last message received.

    In an app made by ``create_app`` the ``ChatMiddleware`` answers these connections
    before routing; this route serves the chat where the router is included on its own
    (and names the path for ``url_path_for("chat")``). A plain ASGI endpoint rather than
    ``@router.websocket``: FastAPI's dependency machinery would stay on the stack of a
    connection for its whole life.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await handshake.serve(services_of(scope["app"]), scope, receive, send)


router.routes.append(WebSocketRoute(CHAT_PATH, ChatEndpoint(), name="chat"))


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
