"""``POST /uploads``, the two multipart upload routes of the outline, an upload's state, and
its progress on a WebSocket. (The SSE feed is ``feeds.UPLOAD_PROGRESS``; tus is ``tus``.)

The multipart routes read ``request.stream()`` themselves rather than declaring
``UploadFile`` parameters: FastAPI would parse the whole body (spooling the file) before
the endpoint runs. So the request body is documented by hand (``MULTIPART_BODY``).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, WebSocket, WebSocketDisconnect, status

from ..errors import ErrorBody, ServiceError
from ..services import ServicesDep
from ..sse.encoder import last_event_id
from ..users.auth import UNAUTHORIZED, CurrentUser
from ..users.service import authenticate
from . import service
from .cleanup import lifespan
from .feeds import progress_messages
from .http import Body, content_length
from .progress import UPLOAD_ENDED
from .schemas import UploadCreate, UploadProgress, UploadResult, UploadTicket

router = APIRouter(tags=["uploads"], lifespan=lifespan)

MULTIPART_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "title": {"type": "string", "maxLength": 200},
                        "description": {"type": "string", "maxLength": 5000},
                    },
                }
            }
        },
    }
}


def _error(description: str) -> dict[str, Any]:
    return {"model": ErrorBody, "description": description}


UPLOAD_ERRORS: dict[int | str, dict[str, Any]] = {
    **UNAUTHORIZED,
    400: _error("Malformed form, missing field, or the body was cut or stalled"),
    404: _error("Unknown upload id (or not yours)"),
    409: _error("That upload id has already received a body"),
    413: _error("Larger than the limit (Content-Length is checked before the body)"),
    415: _error("Not an allowed format, by its content (name and Content-Type ignored)"),
    507: _error("The server is out of disk space"),
}
UploadIdQuery = Annotated[
    str | None, Query(description="An id from POST /uploads, to watch its progress.")
]
UploadIdHeader = Annotated[str | None, Header(description="The same, as a header.")]


@router.post(
    "/uploads",
    status_code=status.HTTP_201_CREATED,
    response_model=UploadTicket,
    responses={**UNAUTHORIZED, 413: _error("Declared size over the limit")},
)
async def create_upload(
    body: UploadCreate, user: CurrentUser, services: ServicesDep
) -> UploadTicket:
    """An upload id before the bytes: open its progress feed, then send the body to
    ``upload_url`` (or pass the id as ``X-Upload-Id``)."""
    return await service.create_upload(services, user, body)


@router.get(
    "/uploads/{upload_id}",
    response_model=UploadProgress,
    responses={**UNAUTHORIZED, 404: _error("Unknown upload (or not yours)")},
)
async def read_upload(upload_id: str, user: CurrentUser, services: ServicesDep) -> UploadProgress:
    """Where an upload is now (the uploader only)."""
    await service.owned(services, upload_id, user)
    return await service.progress(services, upload_id)


async def _receive(
    request: Request, user: Any, services: Any, upload_id: str | None, **options: Any
) -> UploadResult:
    body = Body(request)
    try:
        return await service.receive_multipart(
            services,
            user,
            body.chunks(),
            content_type=request.headers.get("content-type"),
            content_length=content_length(request),
            upload_id=upload_id,
            **options,
        )
    except ServiceError as error:
        body.refuse(error)
        raise


@router.post(
    "/streams/upload-video/",
    status_code=status.HTTP_201_CREATED,
    response_model=UploadResult,
    responses=UPLOAD_ERRORS,
    openapi_extra=MULTIPART_BODY,
)
async def upload_video(
    request: Request,
    user: CurrentUser,
    services: ServicesDep,
    upload_id: UploadIdQuery = None,
    x_upload_id: UploadIdHeader = None,
) -> UploadResult:
    """Upload a video (MP4, MOV, WebM, Matroska) with a title: streamed once to disk,
    checked by its content, then probed and packaged as HLS."""
    return await _receive(
        request,
        user,
        services,
        upload_id or x_upload_id,
        kinds=service.VIDEO_KINDS,
        title_required=True,
    )


@router.post(
    "/streams/upload-with-progress/",
    status_code=status.HTTP_201_CREATED,
    response_model=UploadResult,
    responses=UPLOAD_ERRORS,
    openapi_extra=MULTIPART_BODY,
)
async def upload_with_progress(
    request: Request,
    user: CurrentUser,
    services: ServicesDep,
    upload_id: UploadIdQuery = None,
    x_upload_id: UploadIdHeader = None,
) -> UploadResult:
    """Upload any allowed media file (video or audio); follow it at
    ``/uploads/{upload_id}/progress`` with the id from ``POST /uploads``."""
    return await _receive(request, user, services, upload_id or x_upload_id)


@router.websocket("/uploads/{upload_id}/progress/ws")
async def progress_socket(websocket: WebSocket, upload_id: str, services: ServicesDep) -> None:
    """The progress feed's events as JSON messages ``{type, id, data}``. Send
    ``{"type": "auth", "token": ..., "last_event_id": <optional>}`` first; only the
    uploader may watch. Closes with 1000 after ``upload_ended``; 4401/4404 on refusal."""
    await websocket.accept()
    try:
        first = await asyncio.wait_for(websocket.receive_json(), 10.0)
        if not isinstance(first, dict) or first.get("type") != "auth":
            await websocket.close(4400, 'send {"type": "auth", "token": ...} first')
            return
        if not isinstance(first.get("token"), str | None):
            await websocket.close(4400, "the token is a string")
            return
        user = await authenticate(services, first.get("token"))
        await service.owned(services, upload_id, user)
        raw = first.get("last_event_id")
        since = last_event_id(None if raw is None else str(raw), None)
    except ServiceError as error:
        await websocket.close(4000 + error.status, error.detail[:120])
        return
    except WebSocketDisconnect:  # gone before signing in: nothing to close
        return
    except (TimeoutError, ValueError, KeyError):  # KeyError: a binary frame, not JSON text
        with contextlib.suppress(RuntimeError):
            await websocket.close(4400, "expected an auth message")
        return

    async def pump() -> None:
        last = None
        async for item in progress_messages(services, upload_id, since):
            await websocket.send_json(item)
            last = item["type"]
        if last == UPLOAD_ENDED:
            await websocket.close(1000)
        elif last == "dropped":
            await websocket.close(1013, "too slow: reconnect with last_event_id")
        else:
            await websocket.close(1001, "server shutting down: reconnect with last_event_id")

    sender = asyncio.ensure_future(pump())
    listener = asyncio.ensure_future(_until_disconnect(websocket))
    try:
        await asyncio.wait({sender, listener}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (sender, listener):
            task.cancel()
        await asyncio.gather(sender, listener, return_exceptions=True)


async def _until_disconnect(websocket: WebSocket) -> None:
    while (await websocket.receive())["type"] != "websocket.disconnect":
        pass
