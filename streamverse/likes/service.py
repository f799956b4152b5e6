"""Likes: one per user per stream, so the count means "how many people liked this"."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from ..db.base import utcnow
from ..services import Services
from ..streams import service as streams
from ..users.schemas import User
from .models import LikeRow
from .schemas import LikeResult


async def like(services: Services, stream_id: str, user: User) -> LikeResult:
    """Like a stream. Liking twice is harmless: ``created`` is False and nothing changes."""
    await streams.get_stream(services, stream_id)
    async with services.store.session() as session:
        session.add(LikeRow(stream_id=stream_id, user_id=user.id, created_at=utcnow()))
        try:
            await session.commit()
            created = True
        except IntegrityError:  # the (stream, user) unique constraint: already liked
            await session.rollback()
            created = False
    if created:
        services.aggregator.mark(stream_id)
    likes = await count_likes(services, [stream_id])
    return LikeResult(stream_id=stream_id, liked=True, created=created, likes=likes[stream_id])


async def count_likes(services: Services, stream_ids: Iterable[str]) -> dict[str, int]:
    """Likes per stream, 0 for streams nobody liked, in one query."""
    wanted = list(stream_ids)
    counts = dict.fromkeys(wanted, 0)
    if not wanted:
        return counts
    query = (
        select(LikeRow.stream_id, func.count())
        .where(LikeRow.stream_id.in_(wanted))
        .group_by(LikeRow.stream_id)
    )
    async with services.store.session() as session:
        for stream_id, count in await session.execute(query):
            counts[stream_id] = count
    return counts
