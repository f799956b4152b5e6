"""Streams: create, list, read, and the scheduled -> live -> ended lifecycle."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request, status
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from .auth import UNAUTHORIZED, CurrentUser, new_id
from .broker import Broker
from .deps import BrokerDep, SessionDep
from .errors import NotFound
from .models import ErrorBody, Stream, StreamCreate, StreamStatus, StreamStatusUpdate
from .tables import StreamRow, utcnow

router = APIRouter(prefix="/streams", tags=["streams"])

TRANSITIONS: dict[StreamStatus, StreamStatus] = {
    StreamStatus.scheduled: StreamStatus.live,
    StreamStatus.live: StreamStatus.ended,
}
"""The only allowed moves: each status has exactly one successor, ``ended`` has none."""

STREAM_ENDED = "stream_ended"
"""Event type published on every per-stream topic when the stream ends, so consumers finish."""

LIVE_TOPICS = ("comments", "chat", "analytics")


def topic(stream_id: str, kind: str) -> str:
    """Broker topic name for one kind of per-stream event: ``stream:{id}:{kind}``."""
    return f"stream:{stream_id}:{kind}"


MAX_SQL_INT = 2**63 - 1
"""Largest integer a database column or OFFSET takes: bigger query values are a 422."""

NOT_FOUND = {404: {"model": ErrorBody, "description": "Unknown stream"}}


async def get_stream(session: AsyncSession, stream_id: str) -> StreamRow:
    row = await session.get(StreamRow, stream_id)
    if row is None:
        raise NotFound("stream", stream_id)
    return row


@router.post(
    "/create",
    status_code=status.HTTP_201_CREATED,
    response_model=Stream,
    responses=UNAUTHORIZED,
)
async def create_stream(body: StreamCreate, user: CurrentUser, session: SessionDep) -> StreamRow:
    """Schedule a new stream owned by the caller."""
    row = StreamRow(
        id=new_id(),
        owner_id=user.id,
        title=body.title,
        description=body.description,
        category=body.category.lower(),
        status=StreamStatus.scheduled,
        created_at=utcnow(),
    )
    session.add(row)
    await session.commit()
    return row


@router.get("", response_model=list[Stream])
async def list_streams(
    session: SessionDep,
    status_filter: Annotated[StreamStatus | None, Query(alias="status")] = None,
    category: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_SQL_INT)] = 0,
) -> list[StreamRow]:
    """Streams, newest first, optionally filtered by status and category."""
    query = select(StreamRow).order_by(StreamRow.created_at.desc(), StreamRow.id)
    if status_filter is not None:
        query = query.where(StreamRow.status == status_filter)
    if category is not None:
        query = query.where(StreamRow.category == category.lower())
    result = await session.execute(query.limit(limit).offset(offset))
    return list(result.scalars())


@router.get("/{stream_id}", response_model=Stream, responses=NOT_FOUND)
async def read_stream(stream_id: str, session: SessionDep) -> StreamRow:
    return await get_stream(session, stream_id)


@router.put(
    "/{stream_id}/status",
    response_model=Stream,
    responses={
        **UNAUTHORIZED,
        **NOT_FOUND,
        403: {"model": ErrorBody, "description": "Only the owner may change the status"},
        409: {"model": ErrorBody, "description": "Not an allowed transition"},
    },
)
async def update_status(
    stream_id: str,
    body: StreamStatusUpdate,
    user: CurrentUser,
    session: SessionDep,
    broker: BrokerDep,
    request: Request,
) -> StreamRow:
    """Move a stream forward: scheduled -> live -> ended. Ending it closes its live feeds."""
    row = await get_stream(session, stream_id)
    if row.owner_id != user.id:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "only the stream's owner may change it")
    current = StreamStatus(row.status)
    if TRANSITIONS.get(current) != body.status:
        allowed = TRANSITIONS.get(current)
        hint = f"the only allowed next status is {allowed.value!r}" if allowed else "it has ended"
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"cannot change status from {current.value!r} to {body.status.value!r}: {hint}",
        )
    # Compare-and-set: of two concurrent requests for the same move, exactly one wins.
    moved_at = {"started_at" if body.status is StreamStatus.live else "ended_at": utcnow()}
    moved = await session.execute(
        update(StreamRow)
        .where(StreamRow.id == stream_id, StreamRow.status == current)
        .values(status=body.status, **moved_at)
    )
    await session.commit()
    if moved.rowcount != 1:
        raise HTTPException(
            status.HTTP_409_CONFLICT, "the stream's status changed meanwhile; reload it"
        )
    await session.refresh(row)
    await request.app.state.aggregator.publish_stream(row.id)
    request.app.state.aggregator.mark_global()
    await announce_status(broker, row)
    return row


async def announce_status(broker: Broker, row: StreamRow) -> None:
    """Tell the stream's live feeds; on ``ended`` they send what they have and finish."""
    data = Stream.model_validate(row).model_dump(mode="json")
    await broker.publish("streams", "status", data)
    if row.status == StreamStatus.ended:
        for kind in LIVE_TOPICS:
            await broker.publish(topic(row.id, kind), STREAM_ENDED, {"stream_id": row.id})
