"""The four servers the SSE benchmark compares, and the entry point of their process.

Every variant answers the same feed and the same control routes (``/bench/status``,
``/bench/publish``, the probes), so only the feed differs between them: two baselines
written the way a FastAPI tutorial would (``plain``, ``fastapi.sse``), and the real
platform as ``create_app()`` builds it, alone (``streamverse``) and with its viewer counted
in presence (``streamverse+presence``). Each runs on real uvicorn, in a process of its own
(``serve``), so the clients and the server never share a core.
"""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import json
import time
import tracemalloc
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from _procs import pin, raise_nofile, send_safely
from fastapi import FastAPI
from fastapi.responses import StreamingResponse
from fastapi.sse import EventSourceResponse, ServerSentEvent
from sse_probes import GCClock, add_probe_routes
from starlette._utils import get_route_path
from starlette.types import ASGIApp, Receive, Scope, Send

from streamverse.analytics.feeds import STREAM_ANALYTICS
from streamverse.app import create_app
from streamverse.broker import topics
from streamverse.config import Settings
from streamverse.services import Services, services_of
from streamverse.sse.feeds import FeedResponse

VARIANTS = ("plain", "fastapi.sse", "streamverse", "streamverse+presence")
GRACEFUL_TIMEOUT = 5.0
"""uvicorn's ``timeout_graceful_shutdown`` for every server (``streamverse serve`` uses 5 s)."""

Item = tuple[int, str, dict[str, Any], str]
"""What the queue variants pass to each connection: id, event type, data, data as JSON."""


def payload(n: int) -> dict[str, Any]:
    """One event's data: about the size of a live analytics update (~120 bytes of JSON)."""
    return {
        "seq": n,
        "stream_id": "bench",
        "status": "live",
        "viewers": 1000 + n % 7,
        "peak_viewers": 1200,
        "likes": 42 + n,
        "comments_per_minute": 12.5,
    }


def event_type(n: int, events: int) -> str:
    """``end`` for a burst's last event (what the clients wait for), else ``tick``."""
    return "end" if n == events else "tick"


class Publisher:
    """Runs one publishing burst at a time and remembers how long the last one took."""

    def __init__(self) -> None:
        self.task: asyncio.Task[None] | None = None
        self.seconds: float | None = None

    def start(self, burst: Callable[[], Awaitable[None]]) -> None:
        async def timed() -> None:
            started = time.perf_counter()
            await burst()
            self.seconds = time.perf_counter() - started

        self.seconds = None
        self.task = asyncio.get_running_loop().create_task(timed())

    @property
    def busy(self) -> bool:
        return self.task is not None and not self.task.done()


def queue_app(variant: str) -> FastAPI:
    """The ``plain`` and ``fastapi.sse`` servers: one ``asyncio.Queue`` per connection."""
    app = FastAPI()
    queues: set[asyncio.Queue[Item]] = set()
    publisher = Publisher()

    async def burst(events: int, yield_every: int) -> None:
        for n in range(1, events + 1):
            data = payload(n)
            item = (n, event_type(n, events), data, json.dumps(data, separators=(",", ":")))
            for queue in queues:
                queue.put_nowait(item)
            if n % yield_every == 0:
                await asyncio.sleep(0)

    if variant == "plain":

        async def frames() -> AsyncIterator[str]:
            queue: asyncio.Queue[Item] = asyncio.Queue()
            queues.add(queue)
            try:
                while True:
                    n, event, _, text = await queue.get()
                    yield f"id: {n}\nevent: {event}\ndata: {text}\n\n"
            finally:
                queues.discard(queue)

        @app.get("/live")
        async def live_plain() -> StreamingResponse:
            return StreamingResponse(
                frames(),
                media_type="text/event-stream",
                headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
            )

    else:

        @app.get("/live", response_class=EventSourceResponse)
        async def live_fastapi() -> AsyncIterator[ServerSentEvent]:
            queue: asyncio.Queue[Item] = asyncio.Queue()
            queues.add(queue)
            try:
                while True:
                    n, event, data, _ = await queue.get()
                    yield ServerSentEvent(data=data, event=event, id=str(n))
            finally:
                queues.discard(queue)

    @app.get("/bench/status")
    async def status() -> dict[str, Any]:
        return {
            "subscribers": len(queues),
            "publishing": publisher.busy,
            "publish_seconds": publisher.seconds,
            "gc": GCClock.report(),
        }

    @app.post("/bench/publish")
    async def publish(events: int, yield_every: int = 1) -> dict[str, bool]:
        publisher.start(lambda: burst(events, yield_every))
        return {"started": True}

    add_probe_routes(app)
    return app


def streamverse_app(data_dir: str, watched: bool) -> FastAPI:
    """``create_app()`` as the platform serves it, plus the control routes.

    Its feeds stay exactly as ``create_app`` registers them; with ``watched``, the bench adds
    one feed of its own, ``WATCHED``, in front (``streamverse+presence``).
    """
    app = create_app(Settings(data_dir=Path(data_dir)))
    services = services_of(app)
    publisher = Publisher()

    async def burst(stream_id: str, events: int, yield_every: int) -> None:
        broker, topic = services.broker, topics.analytics(stream_id)
        for n in range(1, events + 1):
            await broker.publish(topic, event_type(n, events), payload(n))
            if n % yield_every == 0:
                await asyncio.sleep(0)

    @app.get("/bench/status")
    async def status(stream_id: str) -> dict[str, Any]:
        return {
            "subscribers": services.broker.subscriber_count(topics.analytics(stream_id)),
            "viewers": services.presence.viewers(stream_id),
            "publishing": publisher.busy,
            "publish_seconds": publisher.seconds,
            "gc": GCClock.report(),
        }

    @app.post("/bench/publish")
    async def publish(stream_id: str, events: int, yield_every: int = 1) -> dict[str, bool]:
        publisher.start(lambda: burst(stream_id, events, yield_every))
        return {"started": True}

    add_probe_routes(app)
    if watched:
        app.add_middleware(WatchedFeed, services=services)  # outside FeedMiddleware
    return app


WATCHED = dataclasses.replace(STREAM_ANALYTICS, path="/bench/watched/{stream_id}/analytics/live")
"""The platform's analytics feed (same topic, snapshot and ends) on a path of the bench's."""


class WatchedFeed:
    """``WATCHED``, answered as ``FeedMiddleware`` answers a feed, with its viewer joined to
    presence for as long as it is open: what a feed that counts its viewers costs.

    The platform's analytics feed does not count viewers (``/comments/live`` does), and a
    ``Feed`` declaration has no hook for it, so this middleware does the one extra step.
    """

    def __init__(self, app: ASGIApp, services: Services) -> None:
        self.app, self.services = app, services

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        params = None
        if scope["type"] == "http" and scope["method"] == "GET":
            params = WATCHED.match(get_route_path(scope))
        if params is None:
            await self.app(scope, receive, send)
            return
        viewer = f"anonymous:{uuid.uuid4().hex}"
        with self.services.presence.watching(params["stream_id"], viewer):
            await FeedResponse(WATCHED, params, self.services)(scope, receive, send)


def serve(conn: Connection, variant: str, options: dict[str, Any]) -> None:
    """Server process: build the variant's app and serve it until SIGTERM.

    ``options`` come from ``sse_target.server_options``. Every variant runs on
    ``streamverse.server.Server`` (it calls ``app.state.begin_shutdown`` when the app has
    one), or on plain ``uvicorn.Server`` when ``hook`` is false (the shutdown baseline).
    """
    if options.get("tracemalloc"):
        tracemalloc.start()
    try:
        import uvicorn

        from streamverse.server import Server, bind_socket

        raise_nofile()
        pin(options.get("cpu"))
        GCClock.install()
        if options.get("gc_threshold"):
            gc.set_threshold(*options["gc_threshold"])
        if variant.startswith("streamverse"):
            app = streamverse_app(options["data_dir"], watched=variant == "streamverse+presence")
            if not options.get("gc_threshold"):
                from streamverse import gctune

                gctune.tune_for_serving()  # as `streamverse serve` does
        else:
            app = queue_app(variant)
        base: type[uvicorn.Server] = Server if options.get("hook", True) else uvicorn.Server
        sock = bind_socket("127.0.0.1", 0)
        port = sock.getsockname()[1]

        class BenchServer(base):  # type: ignore[valid-type, misc]
            async def startup(self, sockets: Any = None) -> None:
                await super().startup(sockets=sockets)
                send_safely(conn, ("ready", port))

        config = uvicorn.Config(
            app,
            loop="uvloop" if options.get("uvloop") else "asyncio",
            log_level=options.get("log_level", "warning"),
            access_log=False,
            timeout_graceful_shutdown=options.get("graceful", GRACEFUL_TIMEOUT),
            backlog=4096,
        )
        BenchServer(config).run(sockets=[sock])
    except BaseException as error:
        send_safely(conn, ("error", f"{type(error).__name__}: {error}"))
        raise
