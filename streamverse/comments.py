"""Live comments: post one, or follow them all as a streaming NDJSON response.

The live feed subscribes to the broker *before* reading recent comments from the database,
then skips live events it has already sent (comment ids only grow). Reading first and
subscribing second would lose a comment posted in between.
"""

from __future__ import annotations

import asyncio
import json
import uuid
import zlib
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request, status
from fastapi.responses import StreamingResponse
from sqlalchemy import select

from .auth import UNAUTHORIZED, CurrentUser, OptionalUser
from .broker import SubscriberDropped
from .deps import BrokerDep, SessionDep, SettingsDep
from .models import Comment, CommentCreate, ErrorBody, StreamStatus
from .streams import MAX_SQL_INT, NOT_FOUND, STREAM_ENDED, get_stream, topic
from .tables import CommentRow, StreamRow, utcnow

router = APIRouter(prefix="/streams", tags=["comments"])

NDJSON = "application/x-ndjson"
MAX_REPLAY = 1000
"""Most comments a feed replays on connect, so a reconnect costs bounded work."""


@router.post(
    "/{stream_id}/comments",
    status_code=status.HTTP_201_CREATED,
    response_model=Comment,
    responses={
        **UNAUTHORIZED,
        **NOT_FOUND,
        409: {"model": ErrorBody, "description": "The stream has ended"},
    },
)
async def post_comment(
    stream_id: str,
    body: CommentCreate,
    user: CurrentUser,
    session: SessionDep,
    broker: BrokerDep,
    request: Request,
) -> Comment:
    """Post a comment; everyone following the live feed receives it."""
    stream = await get_stream(session, stream_id)
    if stream.status == StreamStatus.ended:
        raise HTTPException(status.HTTP_409_CONFLICT, "the stream has ended; comments are closed")
    row = CommentRow(
        stream_id=stream.id,
        user_id=user.id,
        user_name=user.name,
        text=body.text,
        created_at=utcnow(),
    )
    # Commit and publish under the stream's lock, so comments reach the feed in id order:
    # a client resuming with ?since=<the last id it got> then cannot skip an earlier one.
    async with order_lock(request, stream_id):
        session.add(row)
        await session.commit()
        comment = Comment.model_validate(row)
        data = comment.model_dump(mode="json")
        await broker.publish(topic(stream_id, "comments"), "comment", data)
    request.app.state.activity.record(stream_id)
    return comment


def order_lock(request: Request, stream_id: str) -> asyncio.Lock:
    """One of a fixed set of locks, chosen by stream: bounded memory, and streams rarely
    share one. (Within one process; several servers need the database to order them.)"""
    locks = request.app.state.comment_locks
    return locks[zlib.crc32(stream_id.encode()) % len(locks)]


@router.get(
    "/{stream_id}/comments/live",
    response_class=StreamingResponse,
    responses={
        **UNAUTHORIZED,  # only for a bad token: anyone may watch without one
        **NOT_FOUND,
        200: {
            "content": {NDJSON: {}},
            "description": (
                "One JSON object per line: {type: 'comment', data: Comment}, "
                "{type: 'keepalive'} when idle, {type: 'reset', data: {reason}} when more "
                "comments were missed than can be replayed, and {type: 'end', data: {reason}} "
                "last."
            ),
        },
    },
)
async def live_comments(
    stream_id: str,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    viewer: OptionalUser,
    recent: Annotated[
        int | None, Query(ge=0, le=MAX_REPLAY, description="Comments to replay")
    ] = None,
    since: Annotated[
        int | None,
        Query(
            ge=0,
            le=MAX_SQL_INT,
            description="Resume: replay every comment after this comment id instead",
        ),
    ] = None,
) -> StreamingResponse:
    """Recent comments (or all since a comment id), then each new one as it is posted,
    until the stream ends."""
    stream = await get_stream(session, stream_id)
    count = settings.recent_comments if recent is None else recent
    viewer_key = viewer.id if viewer else f"anonymous:{uuid.uuid4().hex}"
    lines = comment_lines(request, stream, count, viewer_key, since)
    return StreamingResponse(lines, media_type=NDJSON, headers={"X-Accel-Buffering": "no"})


async def comment_lines(
    request: Request, stream: StreamRow, count: int, viewer: str, since: int | None = None
) -> AsyncIterator[bytes]:
    state = request.app.state
    keepalive = state.settings.sse_keepalive_seconds
    with state.presence.watching(stream.id, viewer):
        async with state.broker.subscribe(topic(stream.id, "comments")) as subscription:
            # Read after subscribing: an end or a comment that lands in between is not lost.
            ended = await has_ended(request, stream.id)
            replayed = 0
            comments, complete = await replay(request, stream.id, count, since)
            if not complete:
                reason = f"more than {MAX_REPLAY} comments missed; these are the newest"
                yield _line("reset", {"reason": reason})
            for comment in comments:
                yield _line("comment", comment.model_dump(mode="json"))
                replayed = comment.id
            if ended:
                yield _line("end", {"reason": "stream ended"})
                return
            try:
                async for event in subscription.events(idle_after=keepalive):
                    if event is None:
                        yield b'{"type":"keepalive"}\n'
                    elif event.type == STREAM_ENDED:
                        yield _line("end", {"reason": "stream ended"})
                        return
                    elif event.type == "comment" and event.data["id"] > replayed:
                        # Only replayed ids are skipped: concurrent posts may publish out of
                        # id order, so a live id below an earlier live one is still new.
                        yield _line("comment", event.data)
            except SubscriberDropped as dropped:
                yield _line("end", {"reason": f"{dropped.reason}; reconnect to catch up"})
                return
            # The subscription was closed: the server is shutting down.
            yield _line("end", {"reason": "server shutting down; reconnect later"})


async def has_ended(request: Request, stream_id: str) -> bool:
    async with request.app.state.store.session() as session:
        query = select(StreamRow.status).where(StreamRow.id == stream_id)
        return await session.scalar(query) == StreamStatus.ended


async def replay(
    request: Request, stream_id: str, count: int, since: int | None
) -> tuple[list[Comment], bool]:
    """What a new feed sends first, oldest first: every comment after ``since`` (at most
    ``MAX_REPLAY``; the flag is False when more were missed), or the newest ``count``."""
    if since is None:
        return await recent_comments(request, stream_id, count), True
    comments = await recent_comments(request, stream_id, MAX_REPLAY + 1, after=since)
    return comments[-MAX_REPLAY:], len(comments) <= MAX_REPLAY


async def recent_comments(
    request: Request, stream_id: str, count: int, after: int = 0
) -> list[Comment]:
    """The newest ``count`` comments with ids above ``after``, oldest first. A short
    session: a feed outlives it."""
    if count == 0:
        return []
    async with request.app.state.store.session() as session:
        query = (
            select(CommentRow)
            .where(CommentRow.stream_id == stream_id, CommentRow.id > after)
            .order_by(CommentRow.id.desc())
            .limit(count)
        )
        rows = list((await session.execute(query)).scalars())
    return [Comment.model_validate(row) for row in reversed(rows)]


def _line(type: str, data: object) -> bytes:
    return json.dumps({"type": type, "data": data}, separators=(",", ":")).encode() + b"\n"
