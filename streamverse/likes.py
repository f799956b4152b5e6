"""Likes: one per user per stream, so the count means "how many people liked this"."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, status
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from .auth import UNAUTHORIZED, CurrentUser
from .deps import SessionDep
from .models import LikeResult
from .streams import NOT_FOUND, get_stream
from .tables import LikeRow, utcnow

router = APIRouter(prefix="/streams", tags=["analytics"])


async def count_likes(session: AsyncSession, stream_id: str) -> int:
    query = select(func.count()).select_from(LikeRow).where(LikeRow.stream_id == stream_id)
    return (await session.execute(query)).scalar_one()


@router.post(
    "/{stream_id}/likes",
    status_code=status.HTTP_201_CREATED,
    response_model=LikeResult,
    responses={**UNAUTHORIZED, **NOT_FOUND, 200: {"description": "Already liked; nothing changed"}},
)
async def like_stream(
    stream_id: str, user: CurrentUser, session: SessionDep, request: Request, response: Response
) -> LikeResult:
    """Like a stream. Liking twice is harmless: 200 and the count does not change."""
    await get_stream(session, stream_id)
    session.add(LikeRow(stream_id=stream_id, user_id=user.id, created_at=utcnow()))
    try:
        await session.commit()
        created = True
    except IntegrityError:  # the (stream, user) unique constraint: already liked
        await session.rollback()
        created = False
        response.status_code = status.HTTP_200_OK
    if created:
        request.app.state.aggregator.mark(stream_id)
    likes = await count_likes(session, stream_id)
    return LikeResult(stream_id=stream_id, liked=True, created=created, likes=likes)
