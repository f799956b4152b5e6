"""Streams: create, list, read, and the scheduled -> live -> ended lifecycle."""

from __future__ import annotations

from sqlalchemy import ColumnElement, Subquery, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ..broker import topics
from ..db.base import new_id, utcnow
from ..errors import Conflict, Forbidden, NotFound
from ..services import Services
from ..users.schemas import User
from .models import StreamRow
from .schemas import Stream, StreamCreate, StreamStatus

TRANSITIONS: dict[StreamStatus, StreamStatus] = {
    StreamStatus.scheduled: StreamStatus.live,
    StreamStatus.live: StreamStatus.ended,
}
"""The only allowed moves: each status has exactly one successor, ``ended`` has none."""


async def find_stream(session: AsyncSession, stream_id: str) -> StreamRow:
    """The stream's row in an open session; ``NotFound`` when there is none."""
    row = await session.get(StreamRow, stream_id)
    if row is None:
        raise NotFound("stream", stream_id)
    return row


def owner_and_status(stream_id: ColumnElement[str]) -> Subquery:
    """One stream's ``owner_id`` and ``status`` as a subquery, for another domain to read
    with its own rows in a single query (the chat does, for every message)."""
    return select(StreamRow.owner_id, StreamRow.status).where(StreamRow.id == stream_id).subquery()


async def get_stream(services: Services, stream_id: str) -> Stream:
    async with services.store.session() as session:
        return Stream.model_validate(await find_stream(session, stream_id))


async def create_stream(services: Services, owner: User, body: StreamCreate) -> Stream:
    """Schedule a new stream owned by ``owner``."""
    row = StreamRow(
        id=new_id(),
        owner_id=owner.id,
        title=body.title,
        description=body.description,
        category=body.category.lower(),
        status=StreamStatus.scheduled,
        created_at=utcnow(),
    )
    async with services.store.session() as session:
        session.add(row)
        await session.commit()
    return Stream.model_validate(row)


async def list_streams(
    services: Services,
    status: StreamStatus | None = None,
    category: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[Stream]:
    """Streams, newest first, optionally filtered by status and category."""
    query = select(StreamRow).order_by(StreamRow.created_at.desc(), StreamRow.id)
    if status is not None:
        query = query.where(StreamRow.status == status)
    if category is not None:
        query = query.where(StreamRow.category == category.lower())
    async with services.store.session() as session:
        rows = (await session.execute(query.limit(limit).offset(offset))).scalars()
        return [Stream.model_validate(row) for row in rows]


async def change_status(
    services: Services, stream_id: str, user: User, new: StreamStatus
) -> Stream:
    """Move a stream forward: scheduled -> live -> ended. Ending it closes its live feeds.

    Owner only (``Forbidden``); any other move is a ``Conflict`` that says which one is
    allowed. A compare-and-set update: of two concurrent requests for one move, one wins.
    """
    async with services.store.session() as session:
        row = await find_stream(session, stream_id)
        if row.owner_id != user.id:
            raise Forbidden("only the stream's owner may change it")
        current = StreamStatus(row.status)
        allowed = TRANSITIONS.get(current)
        if allowed != new:
            hint = (
                f"the only allowed next status is {allowed.value!r}" if allowed else "it has ended"
            )
            raise Conflict(f"cannot change status from {current.value!r} to {new.value!r}: {hint}")
        moved_at = {"started_at" if new is StreamStatus.live else "ended_at": utcnow()}
        moved = await session.scalar(
            update(StreamRow)
            .where(StreamRow.id == stream_id, StreamRow.status == current)
            .values(status=new, **moved_at)
            .returning(StreamRow.id)
        )
        await session.commit()
        if moved is None:
            raise Conflict("the stream's status changed meanwhile; reload it")
        await session.refresh(row)
        stream = Stream.model_validate(row)
    await services.aggregator.flush_now({stream.id})  # its last numbers, before feeds close
    await announce_status(services, stream)
    return stream


async def announce_status(services: Services, stream: Stream) -> None:
    """Tell the stream's live feeds; on ``ended`` they send what they have and finish."""
    await services.broker.publish(topics.STREAMS, "status", stream.model_dump(mode="json"))
    if stream.status == StreamStatus.ended:
        for topic in topics.per_stream(stream.id):
            await services.broker.publish(topic, topics.STREAM_ENDED, {"stream_id": stream.id})


async def is_ended(services: Services, stream_id: str) -> bool:
    async with services.store.session() as session:
        query = select(StreamRow.status).where(StreamRow.id == stream_id)
        return await session.scalar(query) == StreamStatus.ended


async def live_streams(services: Services) -> list[Stream]:
    async with services.store.session() as session:
        query = select(StreamRow).where(StreamRow.status == StreamStatus.live)
        return [Stream.model_validate(row) for row in (await session.execute(query)).scalars()]
