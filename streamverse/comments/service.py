"""Comments: post one (persist, then publish, in id order), read the recent ones."""

from __future__ import annotations

from sqlalchemy import select

from ..broker import topics
from ..chat import service as chat
from ..db.base import utcnow
from ..errors import Conflict, Forbidden
from ..services import Services
from ..streams import service as streams
from ..streams.schemas import StreamStatus
from ..users.schemas import User
from .models import CommentRow
from .schemas import Comment

MAX_REPLAY = 1000
"""Most comments a feed replays on connect, so a reconnect costs bounded work."""


async def post_comment(services: Services, stream_id: str, author: User, text: str) -> Comment:
    """Store a comment by ``author`` and publish it to everyone following the stream.

    ``Conflict`` when the stream has ended. Committed and published under the stream's
    lock, so comments reach the feed in id order: a client resuming with
    ``?since=<the last id it got>`` then cannot skip an earlier one.
    """
    stream = await streams.get_stream(services, stream_id)
    if stream.status == StreamStatus.ended:
        raise Conflict("the stream has ended; comments are closed")
    if (refusal := await chat.comment_refusal(services, stream_id, author.id)) is not None:
        raise Forbidden(refusal)
    row = CommentRow(
        stream_id=stream.id,
        user_id=author.id,
        user_name=author.name,
        text=text,
        created_at=utcnow(),
    )
    async with services.order_locks(stream_id):
        async with services.store.session() as session:
            session.add(row)
            await session.commit()
        comment = Comment.model_validate(row)
        data = comment.model_dump(mode="json")
        await services.broker.publish(topics.comments(stream_id), "comment", data)
    services.activity.record(stream_id)
    return comment


async def replay(
    services: Services, stream_id: str, count: int, since: int | None
) -> tuple[list[Comment], bool]:
    """What a new feed sends first, oldest first: every comment after ``since`` (at most
    ``MAX_REPLAY``; the flag is False when more were missed), or the newest ``count``."""
    if since is None:
        return await recent_comments(services, stream_id, count), True
    comments = await recent_comments(services, stream_id, MAX_REPLAY + 1, after=since)
    return comments[-MAX_REPLAY:], len(comments) <= MAX_REPLAY


async def recent_comments(
    services: Services, stream_id: str, count: int, after: int = 0
) -> list[Comment]:
    """The newest ``count`` comments with ids above ``after``, oldest first. A short
    session: a feed outlives it."""
    if count == 0:
        return []
    async with services.store.session() as session:
        query = (
            select(CommentRow)
            .where(CommentRow.stream_id == stream_id, CommentRow.id > after)
            .order_by(CommentRow.id.desc())
            .limit(count)
        )
        rows = list((await session.execute(query)).scalars())
    return [Comment.model_validate(row) for row in reversed(rows)]
