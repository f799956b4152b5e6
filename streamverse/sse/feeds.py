"""Live SSE feeds, each declared once, served by a lean middleware and documented by FastAPI.

An open feed lives for minutes or hours, and everything on its request's call stack lives
as long. Under FastAPI routing that is the routing frames, dependency exit stacks and the
``StreamingResponse`` task group: about 38 KiB per open feed. Answered by ``FeedMiddleware``
it is about 18 KiB, which is what lets one process hold 10,000 viewers
(``bench/bench_sse_fanout.py`` measures both). The middleware is an ordinary one, registered
first by ``create_app``: middleware added later wraps it, and Starlette's error middleware
logs its failures and answers 500. A ``Feed`` also makes its FastAPI route, for ``/docs``,
which answers with the very same ``FeedResponse``, so both ways in behave the same.
"""

from __future__ import annotations

import asyncio
import inspect
import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from re import Pattern
from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel
from starlette._utils import get_route_path
from starlette.datastructures import Headers, QueryParams
from starlette.responses import Response
from starlette.routing import compile_path
from starlette.types import ASGIApp, Receive, Scope, Send

from ..broker import RESET, Topic
from ..errors import ErrorBody, ServiceError, error_response
from ..services import Services, get_services
from . import encoder
from .stream import event_stream

RESET_ONLY = frozenset({RESET})

Params = Mapping[str, str]
SSE_HEADERS = [
    (b"content-type", encoder.MEDIA_TYPE.encode()),
    *((name.lower().encode(), value.encode()) for name, value in encoder.HEADERS.items()),
]


@dataclass(frozen=True)
class Feed:
    """What differs between feeds; ``params`` are the path's parameters."""

    path: str
    """A Starlette path, ``/streams/{stream_id}/analytics/live``."""
    topic: Callable[[Params], Topic]
    snapshot: Callable[[Services, Params], Awaitable[BaseModel]]
    """(services, params) -> the current state; raises ``NotFound`` for an unknown key."""
    model: type[BaseModel]
    """The snapshot's schema: every event's data (documented in OpenAPI)."""
    snapshot_type: str
    summary: str
    events: str
    """The events it sends, in a sentence of Markdown (for the docs)."""
    tags: tuple[str, ...] = ()
    final_types: frozenset[str] = frozenset()
    """Event types after which the feed ends (e.g. ``stream_ended``)."""
    finished: Callable[[Any], bool] = lambda snapshot: False
    """True when the snapshot says nothing more will come: the feed sends it and ends."""
    not_found: str | None = None
    """What a 404 means, for feeds with a path parameter."""
    _regex: Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_regex", compile_path(self.path)[0])

    def match(self, route_path: str) -> dict[str, str] | None:
        found = self._regex.match(route_path)
        return None if found is None else found.groupdict()

    def router(self) -> APIRouter:
        """The documented FastAPI route (reached only when the middleware is not in front)."""
        router = APIRouter()
        router.add_api_route(
            self.path,
            _documented_endpoint(self),
            methods=["GET"],
            response_class=StreamingResponse,
            responses=_openapi(self),
            summary=self.summary,
            tags=list(self.tags),
            description=f"{self.events}\n\nServed by `streamverse.sse.feeds.FeedMiddleware`.",
        )
        return router


class FeedResponse(Response):
    """One open feed: check the request, subscribe, then stream until an end.

    Subscribing comes before the snapshot, so nothing that happens in between is lost;
    the snapshot doubles as the existence check (404 for an unknown stream). One small task
    waits for the client's disconnect and closes the subscription, which ends the loop.
    """

    def __init__(self, feed: Feed, params: Params, services: Services) -> None:
        self.feed, self.params, self.services = feed, params, services
        self.status_code = 200
        self.background = None
        self.raw_headers: list[tuple[bytes, bytes]] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            query = QueryParams(scope["query_string"]).get("last_event_id")
            since = encoder.last_event_id(Headers(scope=scope).get("last-event-id"), query)
        except ServiceError as error:
            await error_response(error.status, error.detail)(scope, receive, send)
            return
        try:
            await self._serve(since, scope, receive, send)
        except _NoFeed as refused:
            # Answered after the subscription is gone: a client told 404 finds no topic left.
            status, detail = refused.error.status, refused.error.detail
            await error_response(status, detail)(scope, receive, send)

    async def _serve(self, since: int | None, scope: Scope, receive: Receive, send: Send) -> None:
        feed, params, services = self.feed, self.params, self.services
        async with services.broker.subscribe(feed.topic(params), since) as subscription:
            try:
                current = await feed.snapshot(services, params)
            except ServiceError as error:
                raise _NoFeed(error) from None
            replays_to_the_end = (
                since is not None
                and subscription.holds(feed.final_types)
                and not subscription.holds(RESET_ONLY)
            )
            if feed.finished(current) and not replays_to_the_end:
                # E.g. the stream ended: its final numbers, then the end (a resuming client
                # whose missed events are no longer all in history too: nothing more will
                # come). One whose replay reaches the end gets exactly what it missed.
                newest = subscription.newest_at_start
                frame = encoder.encode(
                    encoder.to_json(current), event=feed.snapshot_type, id=newest
                )
                ended = json.dumps(dict(params))  # what the live end event carries
                end = b"".join(encoder.encode(ended, event=kind) for kind in feed.final_types)
                await send({"type": "http.response.start", "status": 200, "headers": SSE_HEADERS})
                await send({"type": "http.response.body", "body": frame + end})
                return
            watcher = asyncio.ensure_future(_until_disconnect(receive))
            watcher.add_done_callback(lambda _: subscription.close())
            try:
                await send({"type": "http.response.start", "status": 200, "headers": SSE_HEADERS})
                settings = services.settings
                body = event_stream(
                    subscription,
                    snapshot=lambda: feed.snapshot(services, params),
                    initial=None if since is not None else current,
                    keepalive=settings.sse_keepalive_seconds,
                    retry_ms=settings.sse_retry_ms,
                    snapshot_type=feed.snapshot_type,
                    final_types=feed.final_types,
                )
                del current  # an open feed should not keep its first snapshot alive
                async for chunk in body:
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
                await send({"type": "http.response.body", "body": b"", "more_body": False})
            finally:
                watcher.cancel()


class _NoFeed(Exception):
    """The feed's snapshot refused (say, an unknown stream): answered as an error response."""

    def __init__(self, error: ServiceError) -> None:
        super().__init__(error.detail)
        self.error = error


class FeedMiddleware:
    """GETs on a feed's path go straight to ``FeedResponse``; everything else passes on."""

    def __init__(self, app: ASGIApp, services: Services, feeds: Sequence[Feed]) -> None:
        self.app, self.services, self.feeds = app, services, tuple(feeds)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            path = get_route_path(scope)  # without root_path: works mounted under a prefix
            for feed in self.feeds:
                params = feed.match(path)
                if params is not None:
                    await FeedResponse(feed, params, self.services)(scope, receive, send)
                    return
        await self.app(scope, receive, send)


async def _until_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


def _documented_endpoint(feed: Feed) -> Callable[..., Awaitable[FeedResponse]]:
    async def endpoint(request: Request, **_: Any) -> FeedResponse:
        return FeedResponse(feed, request.path_params, get_services(request))

    documented = [inspect.Parameter("request", inspect.Parameter.KEYWORD_ONLY, annotation=Request)]
    for name in compile_path(feed.path)[2]:
        annotation = Annotated[str, Path()]
        documented.append(
            inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation)
        )
    resume = "Resume after this event id (or send it as ?last_event_id=)"
    for name, where in (
        ("last_event_id", Header(description=resume)),
        ("last_event_id_query", Query(alias="last_event_id", description=resume)),
    ):
        documented.append(
            inspect.Parameter(
                name,
                inspect.Parameter.KEYWORD_ONLY,
                default=None,
                annotation=Annotated[str | None, where],
            )
        )
    # FastAPI reads the parameters through inspect.signature, which honours __signature__;
    # typeshed does not declare that attribute on functions, hence the one ignore.
    endpoint.__signature__ = inspect.Signature(documented)  # type: ignore[attr-defined]
    endpoint.__name__ = f"live_{feed.snapshot_type}"
    return endpoint


def _openapi(feed: Feed) -> dict[int | str, dict[str, Any]]:
    """Each event's ``data`` is the JSON of ``feed.model``, in OpenAPI 3.2's ``itemSchema``
    form, as ``fastapi.sse`` writes it."""
    event = {
        "type": "object",
        "required": ["data"],
        "properties": {
            "data": {
                "type": "string",
                "contentMediaType": "application/json",
                "contentSchema": {"$ref": f"#/components/schemas/{feed.model.__name__}"},
            },
            "event": {"type": "string"},
            "id": {"type": "string"},
            "retry": {"type": "integer", "minimum": 0},
        },
    }
    error: dict[str, Any] = {"model": ErrorBody}
    documented: dict[int | str, dict[str, Any]] = {
        200: {
            "description": f"Server-Sent Events: {feed.events} Resume with Last-Event-ID; an "
            "id the server cannot place gets `event: reset` with a fresh snapshot.",
            "content": {encoder.MEDIA_TYPE: {"itemSchema": event}},
        },
        400: {"description": "Malformed Last-Event-ID", **error},
    }
    if feed.not_found:
        documented[404] = {"description": feed.not_found, **error}
    return documented
