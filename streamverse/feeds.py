"""Live SSE feeds served as bare ASGI, in front of FastAPI's per-request machinery.

An open feed lives for minutes or hours, and everything on its request's call stack lives
as long. Under FastAPI routing that is the routing frames, dependency exit stacks and the
``StreamingResponse`` task group: about 38 KiB per open feed. Answered here it is about
18 KiB, which is what lets one process hold 10,000 viewers (``bench/bench_sse_fanout.py``
measures both). So ``FeedRouter`` sits in front of the app and serves the feed paths itself;
the FastAPI routes stay, for the OpenAPI docs, and answer with the very same
``FeedResponse``, so both ways in behave the same.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from fastapi import HTTPException
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import sse
from .errors import NotFound

logger = logging.getLogger("streamverse.feeds")

SSE_HEADERS = [
    (b"content-type", sse.MEDIA_TYPE.encode()),
    *((name.lower().encode(), value.encode()) for name, value in sse.HEADERS.items()),
]


@dataclass(frozen=True)
class Feed:
    """What differs between feeds. ``key`` is the path parameter ("" when there is none)."""

    path: str
    """A regex for the whole path, with a ``(?P<key>...)`` group when it has a parameter."""
    topic: Callable[[str], str]
    snapshot: Callable[[Any, str], Awaitable[Any]]
    """(app state, key) -> the current state; raises ``NotFound`` for an unknown key."""
    snapshot_type: str
    final_types: frozenset[str] = frozenset()
    """Event types after which the feed ends (e.g. ``stream_ended``)."""
    finished: Callable[[Any], bool] = lambda snapshot: False
    """True when the snapshot says nothing more will come: the feed sends it and ends."""

    def match(self, path: str) -> str | None:
        found = re.fullmatch(self.path, path)
        return None if found is None else found.groupdict().get("key", "")


class FeedResponse(Response):
    """One open feed: check the request, subscribe, then stream until an end.

    Subscribing comes before the snapshot, so nothing that happens in between is lost;
    the snapshot doubles as the existence check (404 for an unknown stream). One small task
    waits for the client's disconnect and closes the subscription, which ends the loop.
    """

    def __init__(self, feed: Feed, key: str, state: Any) -> None:
        self.feed, self.key, self.state = feed, key, state
        self.status_code = 200
        self.background = None
        self.raw_headers: list[tuple[bytes, bytes]] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        feed, state = self.feed, self.state
        try:
            since = sse.last_event_id(_header(scope, b"last-event-id"), _query(scope))
        except HTTPException as error:
            await send_json(send, error.status_code, {"detail": error.detail})
            return
        async with state.broker.subscribe(feed.topic(self.key), since) as subscription:
            try:
                current = await feed.snapshot(state, self.key)
            except NotFound as error:
                await send_json(send, 404, {"detail": error.detail})
                return
            if since is None and feed.finished(current):  # e.g. the stream ended before
                await send({"type": "http.response.start", "status": 200, "headers": SSE_HEADERS})
                frame = sse.encode(
                    sse.to_json(current), event=feed.snapshot_type, id=subscription.last_id
                )
                ended = json.dumps({"stream_id": self.key})  # as the live end event carries
                end = b"".join(sse.encode(ended, event=kind) for kind in sorted(feed.final_types))
                await send({"type": "http.response.body", "body": frame + end})
                return
            watcher = asyncio.ensure_future(_until_disconnect(receive))
            watcher.add_done_callback(lambda _: subscription.close())
            try:
                await send({"type": "http.response.start", "status": 200, "headers": SSE_HEADERS})
                body = sse.event_stream(
                    subscription,
                    snapshot=lambda: feed.snapshot(state, self.key),
                    initial=None if since is not None else current,
                    keepalive=state.settings.sse_keepalive_seconds,
                    retry_ms=state.settings.sse_retry_ms,
                    snapshot_type=feed.snapshot_type,
                    final_types=feed.final_types,
                )
                del current  # an open feed should not keep its first snapshot alive
                async for chunk in body:
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
                await send({"type": "http.response.body", "body": b"", "more_body": False})
            finally:
                watcher.cancel()


def sse_doc(model: str, events: str) -> dict[int | str, dict[str, Any]]:
    """OpenAPI for a feed route: each event's ``data`` is the JSON of ``model`` (a schema in
    components), in OpenAPI 3.2's ``itemSchema`` form, as ``fastapi.sse`` writes it."""
    event = {
        "type": "object",
        "required": ["data"],
        "properties": {
            "data": {
                "type": "string",
                "contentMediaType": "application/json",
                "contentSchema": {"$ref": f"#/components/schemas/{model}"},
            },
            "event": {"type": "string"},
            "id": {"type": "string"},
            "retry": {"type": "integer", "minimum": 0},
        },
    }
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
    return {
        200: {
            "description": f"Server-Sent Events: {events}. Resume with Last-Event-ID; an id "
            "the server cannot place gets `event: reset` with a fresh snapshot.",
            "content": {sse.MEDIA_TYPE: {"itemSchema": event}},
        },
        400: {"description": "Malformed Last-Event-ID", "content": error},
    }


class FeedRouter:
    """ASGI app in front of FastAPI: GETs on a feed's path go straight to ``FeedResponse``.

    Being in front, it also bypasses FastAPI middleware: one added later (CORS, say) must
    either be added around this router as well or handle the feed paths itself.
    """

    def __init__(self, app: ASGIApp, state: Any, feeds: list[Feed]) -> None:
        self.app, self.state, self.feeds = app, state, feeds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            for feed in self.feeds:
                key = feed.match(scope["path"])
                if key is not None:
                    await _guarded(FeedResponse(feed, key, self.state), scope, receive, send)
                    return
        await self.app(scope, receive, send)


async def _guarded(response: FeedResponse, scope: Scope, receive: Receive, send: Send) -> None:
    """What Starlette's error middleware does for other routes: log, and a JSON 500."""
    started = False

    async def tracking_send(message: Message) -> None:
        nonlocal started
        started = started or message["type"] == "http.response.start"
        await send(message)

    try:
        await response(scope, receive, tracking_send)
    except Exception:
        logger.exception("live feed %s failed", scope["path"])
        if not started:
            await send_json(send, 500, {"detail": "internal error in a live feed"})


async def send_json(send: Send, status: int, body: dict[str, Any]) -> None:
    payload = json.dumps(body).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(payload))]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


async def _until_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return None


def _query(scope: Scope) -> str | None:
    values = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("last_event_id")
    return values[0] if values else None
