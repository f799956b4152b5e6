"""The application factory: settings in, a FastAPI app out, services started in lifespan."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.types import ASGIApp

from . import analytics, auth, comments, global_stats, likes, streams, web
from .activity import Activity
from .aggregator import Aggregator
from .broker import Broker
from .config import Settings
from .errors import install_error_handlers
from .feeds import FeedRouter
from .presence import Presence
from .store import Store

DESCRIPTION = """
StreamVerse is a live content platform and the reference app of a course on streaming with
FastAPI. Authenticate with `Authorization: Bearer <token>` (from `POST /users`); WebSockets
send `{"type": "auth", "token": ...}` as their first message.
"""


class StreamVerseApp(FastAPI):
    """FastAPI, with the live SSE feeds answered in front of it (see ``feeds``)."""

    def build_middleware_stack(self) -> ASGIApp:
        feeds = [global_stats.FEED, analytics.FEED]
        return FeedRouter(super().build_middleware_stack(), self.state, feeds)


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build an app with its own store, broker and live state (several can share a process)."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        await app.state.store.create_tables()
        await app.state.broker.connect()
        app.state.aggregator.start()
        try:
            yield
        finally:
            await app.state.aggregator.stop()
            await app.state.broker.close()
            await app.state.store.close()

    app = StreamVerseApp(
        title="StreamVerse", version="0.1.0", description=DESCRIPTION, lifespan=lifespan
    )
    app.state.settings = settings
    app.state.store = Store(settings.resolved_database_url())
    snapshots = {
        "analytics": settings.snapshot_history_size,
        "stats": settings.snapshot_history_size,
    }
    app.state.broker = Broker(
        settings.broker_url,
        settings.history_size,
        settings.subscriber_queue_size,
        history_sizes=snapshots,
    )
    aggregator = Aggregator(
        app.state, settings.analytics_interval_seconds, settings.snapshot_interval_seconds
    )
    app.state.aggregator = aggregator
    app.state.comment_locks = [asyncio.Lock() for _ in range(64)]  # see comments.order_lock
    app.state.presence = Presence(on_change=aggregator.mark)
    app.state.activity = Activity(on_change=aggregator.mark)
    app.state.begin_shutdown = app.state.broker.close
    install_error_handlers(app)
    for module in (auth, global_stats, streams, comments, likes, analytics):
        app.include_router(module.router)
    web.mount(app)
    return app
