"""The application factory: settings in, a FastAPI app out, services started in lifespan.

This is the composition root: the one module that knows every domain. It makes the
``Services``, registers the live feeds' middleware first (so middleware added later wraps
it), includes each domain's router, and mounts the web page.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from . import web
from .analytics import feeds as analytics_feeds
from .analytics import router as analytics
from .analytics.service import AnalyticsPublisher
from .chat import router as chat
from .comments import router as comments
from .config import Settings
from .errors import install_error_handlers
from .likes import router as likes
from .logs import router as logs
from .services import Services
from .sse.feeds import FeedMiddleware
from .streams import router as streams
from .uploads import feeds as upload_feeds
from .uploads import router as uploads
from .uploads import tus
from .users import router as users
from .videos import router as videos

DESCRIPTION = """
StreamVerse is a live content platform and the reference app of a course on streaming with
FastAPI. Authenticate with `Authorization: Bearer <token>` (from `POST /users`); WebSockets
send `{"type": "auth", "token": ...}` as their first message.
"""

FEEDS = (*analytics_feeds.FEEDS, *upload_feeds.FEEDS)
ROUTERS = (
    users.router,
    analytics.router,
    streams.router,
    comments.router,
    chat.router,
    likes.router,
    videos.router,
    uploads.router,
    tus.router,
    logs.router,
)
"""In matching order: ``/streams/global-stats`` must come before ``/streams/{stream_id}``."""


def create_services(settings: Settings | None = None) -> Services:
    """The app's services, wired: what ``create_app`` serves, usable without HTTP too
    (``await services.start()`` first)."""
    services = Services.create(settings or Settings())
    services.aggregator.publish_with(AnalyticsPublisher(services))
    return services


def server_options(settings: Settings) -> dict[str, Any]:
    """What uvicorn takes from the settings: no frame past the chat's limit is read (the
    websockets library closes it with 1009 from its header; uvicorn's default would read
    16 MiB first), and every connection is pinged, so a dead one does not linger."""
    return {
        "ws_max_size": settings.chat_max_frame_bytes,
        "ws_ping_interval": settings.ws_ping_interval_seconds,
        "ws_ping_timeout": settings.ws_ping_timeout_seconds,
    }


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build an app with its own store, broker and live state (several can share a process)."""
    services = create_services(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await services.start()
        try:
            yield
        finally:
            await services.stop()

    app = FastAPI(title="StreamVerse", version="0.1.0", description=DESCRIPTION, lifespan=lifespan)
    app.state.services = services
    app.state.begin_shutdown = services.begin_shutdown  # see streamverse.server
    app.state.server_options = server_options(services.settings)  # see streamverse.server
    install_error_handlers(app)
    app.add_middleware(FeedMiddleware, services=services, feeds=FEEDS)
    app.add_middleware(chat.ChatMiddleware, services=services)
    for feed in FEEDS:
        app.include_router(feed.router())
    for router in ROUTERS:
        app.include_router(router)
    web.mount(app)
    return app
