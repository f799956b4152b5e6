"""``POST /streams/{id}/likes``."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from ..services import ServicesDep
from ..streams.router import NOT_FOUND
from ..users.auth import UNAUTHORIZED, CurrentUser
from . import service
from .schemas import LikeResult

router = APIRouter(prefix="/streams", tags=["analytics"])


@router.post(
    "/{stream_id}/likes",
    status_code=status.HTTP_201_CREATED,
    response_model=LikeResult,
    responses={**UNAUTHORIZED, **NOT_FOUND, 200: {"description": "Already liked; nothing changed"}},
)
async def like_stream(
    stream_id: str, user: CurrentUser, services: ServicesDep, response: Response
) -> LikeResult:
    """Like a stream. Liking twice is harmless: 200 and the count does not change."""
    result = await service.like(services, stream_id, user)
    if not result.created:
        response.status_code = status.HTTP_200_OK
    return result
