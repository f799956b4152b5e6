"""``/videos``: the media list, one item's record, playback with Range, and HLS.

One name for video and audio alike: ``GET /videos/{video_id}`` plays either. The router's
lifespan (merged into the app's by FastAPI) recovers at startup and cancels packaging at
shutdown (``service.recover``, ``service.shutdown``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Query

from ..errors import ErrorBody
from ..services import ServicesDep, services_of
from ..streams.router import MAX_SQL_INT
from . import service, storage
from .responses import MEDIA_HEADERS, MediaFileResponse
from .schemas import CONTENT_TYPES, Media, MediaPage


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    services = services_of(app)
    await service.recover(services)
    try:
        yield
    finally:
        await service.shutdown(services)


router = APIRouter(prefix="/videos", tags=["videos"], lifespan=lifespan)

PLAYLIST_TYPE = "application/vnd.apple.mpegurl"
SEGMENT_TYPE = "video/mp2t"
ORIGINAL_CACHE = "public, max-age=3600"
PLAYLIST_CACHE = "no-cache"
SEGMENT_CACHE = "public, max-age=31536000, immutable"
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorBody, "description": "Unknown video (or not a video id)"}
}
RANGES: dict[int | str, dict[str, Any]] = {
    200: {"description": "The whole file", "content": {t: {} for t in CONTENT_TYPES.values()}},
    206: {"description": "The requested range (Content-Range), or several as multipart/byteranges"},
    400: {"model": ErrorBody, "description": "A Range header that cannot be parsed"},
    416: {"model": ErrorBody, "description": "A range past the end: Content-Range bytes */size"},
}


@router.get("", response_model=MediaPage)
async def list_videos(
    services: ServicesDep,
    limit: Annotated[int | None, Query(ge=1, le=200, description="Page size")] = None,
    offset: Annotated[int, Query(ge=0, le=MAX_SQL_INT, description="Items to skip")] = 0,
) -> MediaPage:
    """Videos and audio, newest first, a page at a time: follow ``next_offset`` until it
    is null."""
    size = limit or services.settings.media_page_size
    return await service.list_media(services, size, offset)


@router.get("/{video_id}/info", response_model=Media, responses=NOT_FOUND)
async def read_video(video_id: str, services: ServicesDep) -> Media:
    """One item's record: its status, probe results and the URLs that play it."""
    return await service.get_media(services, video_id)


@router.head("/{video_id}", response_class=MediaFileResponse, include_in_schema=False)
@router.get(
    "/{video_id}",
    response_class=MediaFileResponse,
    responses={**NOT_FOUND, **RANGES},
)
async def play_video(video_id: str, services: ServicesDep) -> MediaFileResponse:
    """The original file (video or audio) for progressive playback: send
    ``Range: bytes=start-end`` to seek (206), ``If-Range`` with the ETag to resume safely."""
    path, media = await service.original_file(services, video_id)
    return MediaFileResponse(
        path,
        media_type=media.content_type,
        headers={**MEDIA_HEADERS, "Cache-Control": ORIGINAL_CACHE},
        filename=media.original_name or None,
        content_disposition_type="inline",
    )


@router.head("/{video_id}/hls/{name}", response_class=MediaFileResponse, include_in_schema=False)
@router.get(
    "/{video_id}/hls/{name}",
    response_class=MediaFileResponse,
    responses={
        200: {"content": {PLAYLIST_TYPE: {}, SEGMENT_TYPE: {}}},
        404: {
            "model": ErrorBody,
            "description": "Unknown video or file name, or not packaged yet (no-store)",
        },
    },
)
async def hls(video_id: str, name: str, services: ServicesDep) -> MediaFileResponse:
    """The HLS version, once the video's status is ``ready``: ``index.m3u8`` (a VOD
    playlist, revalidated on every use) and the ``seg_NNNNN.ts`` segments it lists
    (MPEG-TS, H.264/AAC; immutable)."""
    path, _ = await service.hls_file(services, video_id, name)
    playlist = name == storage.PLAYLIST
    return MediaFileResponse(
        path,
        media_type=PLAYLIST_TYPE if playlist else SEGMENT_TYPE,
        headers={**MEDIA_HEADERS, "Cache-Control": PLAYLIST_CACHE if playlist else SEGMENT_CACHE},
    )
