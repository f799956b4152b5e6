"""``POST /streams/{id}/comments`` and the live feed ``GET /streams/{id}/comments/live``."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, status
from fastapi.responses import StreamingResponse

from ..errors import ErrorBody
from ..services import ServicesDep
from ..streams import service as streams
from ..streams.router import MAX_SQL_INT, NOT_FOUND
from ..users.auth import UNAUTHORIZED, CurrentUser, OptionalUser
from . import service
from .feed import NDJSON, comment_lines
from .schemas import Comment, CommentCreate

router = APIRouter(prefix="/streams", tags=["comments"])


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
    stream_id: str, body: CommentCreate, user: CurrentUser, services: ServicesDep
) -> Comment:
    """Post a comment; everyone following the live feed receives it."""
    return await service.post_comment(services, stream_id, user, body.text)


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
    services: ServicesDep,
    viewer: OptionalUser,
    recent: Annotated[
        int | None, Query(ge=0, le=service.MAX_REPLAY, description="Comments to replay")
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
    stream = await streams.get_stream(services, stream_id)  # 404 before the stream starts
    count = services.settings.recent_comments if recent is None else recent
    viewer_key = viewer.id if viewer else f"anonymous:{uuid.uuid4().hex}"
    lines = comment_lines(services, stream.id, count, viewer_key, since)
    return StreamingResponse(lines, media_type=NDJSON, headers={"X-Accel-Buffering": "no"})
