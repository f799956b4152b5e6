"""Live feeds inside the middleware stack: wrapped by later middleware, served under a path
prefix, and answered by the lean path (not FastAPI's routing) unless it is taken away."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from conftest import WAIT, make_stream, make_user
from fastapi import FastAPI
from sse_client import SSEConnection
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.routing import Mount, get_route_path  # type: ignore[attr-defined]
from starlette.types import ASGIApp, Receive, Scope, Send

from streamverse import Settings, create_app
from streamverse.notebook import BackgroundServer
from streamverse.sse.feeds import FeedMiddleware


class Stamp:
    """A pure ASGI middleware that stamps every response with a header."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def stamped(message: Any) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (b"x-stamp", b"yes")]
            await send(message)

        await self.app(scope, receive, stamped)


class RoutingSpy:
    """Records the path of every HTTP request that reaches the StreamVerse app's own router
    (FastAPI's routing), without touching the interpreter's internals: the router's inner
    app is wrapped, so whatever answers in front of it is never recorded."""

    def __init__(self, app: FastAPI) -> None:
        self.routed: list[str] = []
        self._inner = app.router.middleware_stack
        app.router.middleware_stack = self

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            self.routed.append(get_route_path(scope))
        await self._inner(scope, receive, send)


def test_a_middleware_added_after_create_app_wraps_the_feeds(tmp_path: Path) -> None:
    app = create_app(Settings(data_dir=tmp_path))
    app.add_middleware(Stamp)
    spy = RoutingSpy(app)
    with BackgroundServer(app) as background:
        with httpx.Client(base_url=background.url, timeout=WAIT) as client:
            _, owner = make_user(client)
            stream = make_stream(client, owner, status="live")
            plain = client.get("/streams")
        url = f"{background.url}/streams/{stream['id']}/analytics/live"
        with SSEConnection(url) as feed:
            (first,) = feed.take(1)
            stamped = feed.response.headers.get("x-stamp")
    assert plain.headers["x-stamp"] == "yes"
    assert stamped == "yes" and first.type == "analytics"
    assert "/streams" in spy.routed
    assert f"/streams/{stream['id']}/analytics/live" not in spy.routed


def test_a_base_http_middleware_does_not_stop_a_feed_streaming(tmp_path: Path) -> None:
    """The common kind of middleware (``@app.middleware("http")``) wraps feeds too."""
    app = create_app(Settings(data_dir=tmp_path))

    async def timing(request: Any, call_next: Any) -> Any:
        response = await call_next(request)
        response.headers["x-seen"] = "1"
        return response

    app.add_middleware(BaseHTTPMiddleware, dispatch=timing)
    with (
        BackgroundServer(app) as background,
        httpx.Client(base_url=background.url, timeout=WAIT) as client,
    ):
        _, owner = make_user(client)
        stream = make_stream(client, owner, status="live")
        url = f"{background.url}/streams/{stream['id']}/analytics/live"
        with SSEConnection(url) as feed:
            (first,) = feed.take(1)
            client.post(f"/streams/{stream['id']}/likes", headers=owner).raise_for_status()
            liked = feed.until(lambda event: event.json()["likes"] == 1)[-1]
            seen = feed.response.headers.get("x-seen")
    assert (first.type, liked.json()["likes"], seen) == ("analytics", 1, "1")


def test_mounted_under_a_prefix_the_feeds_still_take_the_lean_path(tmp_path: Path) -> None:
    app = create_app(Settings(data_dir=tmp_path))

    @asynccontextmanager
    async def lifespan(outer: FastAPI) -> AsyncIterator[None]:
        async with app.router.lifespan_context(app):  # a Mount does not run it by itself
            yield

    outer = FastAPI(lifespan=lifespan, routes=[Mount("/platform", app=app)])
    spy = RoutingSpy(app)
    with BackgroundServer(outer) as background:
        base = f"{background.url}/platform"
        with httpx.Client(base_url=base, timeout=WAIT) as client:
            _, owner = make_user(client)
            stream = make_stream(client, owner, status="live")
            unprefixed = client.get(f"{background.url}/streams/{stream['id']}/analytics/live")
            listed = client.get("/streams")
        with SSEConnection(f"{base}/streams/{stream['id']}/analytics/live") as feed:
            (first,) = feed.take(1)
    assert unprefixed.status_code == 404 and listed.status_code == 200
    assert (first.type, first.json()["stream_id"]) == ("analytics", stream["id"])
    assert "/streams" in spy.routed
    assert f"/streams/{stream['id']}/analytics/live" not in spy.routed


def test_the_documented_routes_answer_the_feeds_the_same_way(tmp_path: Path) -> None:
    """Without the middleware in front, the FastAPI routes made from the same declarations
    are reached, and answer with the same FeedResponse."""
    app = create_app(Settings(data_dir=tmp_path))
    app.user_middleware = [
        m
        for m in app.user_middleware
        if m.cls is not FeedMiddleware  # type: ignore[comparison-overlap]
    ]
    spy = RoutingSpy(app)
    with BackgroundServer(app) as background:
        with httpx.Client(base_url=background.url, timeout=WAIT) as client:
            _, owner = make_user(client)
            stream = make_stream(client, owner, status="live")
            missing = client.get("/streams/nope/analytics/live")
            bad = client.get("/streams/global-stats/live", headers={"Last-Event-ID": "x"})
        with SSEConnection(f"{background.url}/streams/{stream['id']}/analytics/live") as feed:
            (first,) = feed.take(1)
            content_type = feed.response.headers["content-type"]
    assert (missing.status_code, missing.json()) == (404, {"detail": "stream 'nope' not found"})
    assert bad.status_code == 400 and "Last-Event-ID" in bad.json()["detail"]
    assert content_type.startswith("text/event-stream")
    assert (first.type, first.json()["status"]) == ("analytics", "live")
    assert f"/streams/{stream['id']}/analytics/live" in spy.routed


def test_a_failing_feed_is_logged_and_answered_500_by_the_error_middleware(
    tmp_path: Path,
) -> None:
    app = create_app(Settings(data_dir=tmp_path))

    async def broken(services: Any, params: Any) -> Any:
        raise RuntimeError("snapshot exploded")

    from streamverse.analytics import feeds

    original = feeds.GLOBAL_STATS.snapshot
    object.__setattr__(feeds.GLOBAL_STATS, "snapshot", broken)
    try:
        with BackgroundServer(app) as background:
            response = httpx.get(f"{background.url}/streams/global-stats/live", timeout=WAIT)
            still_up = httpx.get(f"{background.url}/streams", timeout=WAIT).status_code
            logs = background.logs()
    finally:
        object.__setattr__(feeds.GLOBAL_STATS, "snapshot", original)
    assert (response.status_code, response.json()) == (500, {"detail": "internal server error"})
    assert still_up == 200
    assert any("snapshot exploded" in line for line in logs)
