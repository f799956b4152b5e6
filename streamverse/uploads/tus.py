"""tus 1.0 under ``/uploads/tus/``: core protocol, creation, termination, checksum,
expiration. https://tus.io/protocols/resumable-upload

Written here rather than taken from ``tuspyserver`` (evaluated: version 4.4): it has no
checksum extension (no 460); its PATCH dependency writes the body before the route checks
``Tus-Resumable`` and ``Content-Type``, so a 412/415 request has already been applied; its
file lock polls with ``time.sleep`` inside async code (the event loop stops for up to
30 s); it keeps its own JSON sidecar files instead of our database; its hooks come only at
the end (no per-chunk progress, no magic-byte refusal while streaming); and its ``auth``
dependency cannot tie an upload to the user who created it.

Every answer carries ``Tus-Resumable: 1.0.0`` (errors too, as JSON ``{"detail": ...}``).
Requests are authenticated like the rest of the API (``Authorization: Bearer``; both
``tuspy`` and ``tus-js-client`` send custom headers on every request); an upload is its
creator's alone: anyone else gets 404. ``X-HTTP-Method-Override`` on a POST is honoured.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from email.utils import format_datetime

from fastapi import APIRouter, Request, Response

from ..errors import BadRequest, ServiceError
from ..services import Services, ServicesDep
from ..users.schemas import User
from ..users.service import authenticate
from .cleanup import expires_at
from .errors import PayloadTooLarge, PreconditionFailed, UnsupportedMediaType
from .http import Body, bearer_token, content_length
from .live import live
from .resumable import CHECKSUMS, create, current_offset, parse_checksum, resumable, terminate
from .resumable import append as append_bytes
from .watchdog import Watchdog

VERSION = "1.0.0"
EXTENSIONS = "creation,termination,checksum,expiration"
OFFSET_TYPE = "application/offset+octet-stream"
PREFIX = "/uploads/tus"

router = APIRouter(prefix=PREFIX, tags=["uploads (tus)"])


def _headers(**extra: str) -> dict[str, str]:
    return {"Tus-Resumable": VERSION, **extra}


def _refusal(error: ServiceError, head: bool = False) -> Response:
    headers = _headers(**(error.headers or {}))
    if isinstance(error, PreconditionFailed):
        headers["Tus-Version"] = VERSION
    if head:
        return Response(status_code=error.status, headers=headers)
    body = json.dumps({"detail": error.detail}).encode()
    return Response(body, error.status, headers, media_type="application/json")


async def _tus(
    request: Request, work: Callable[[], Awaitable[Response]], *, head: bool = False
) -> Response:
    """Check ``Tus-Resumable`` first (412, and nothing done), answer errors the tus way."""
    try:
        if request.headers.get("tus-resumable") != VERSION:
            raise PreconditionFailed(f"this server speaks tus {VERSION}: send Tus-Resumable")
        return await work()
    except ServiceError as error:
        return _refusal(error, head)


async def _user(request: Request, services: Services) -> User:
    return await authenticate(services, bearer_token(request))


def _int_header(request: Request, name: str) -> int | None:
    raw = request.headers.get(name)
    if raw is None:
        return None
    if not raw.strip().isdecimal() or len(raw) > 19:
        raise BadRequest(f"{name} must be a non-negative integer")
    return int(raw)


@router.options("/", status_code=204)
@router.options("/{upload_id}", status_code=204, include_in_schema=False)
async def discover(services: ServicesDep) -> Response:
    """What this tus server supports (no ``Tus-Resumable`` needed)."""
    return Response(
        status_code=204,
        headers=_headers(
            **{
                "Tus-Version": VERSION,
                "Tus-Extension": EXTENSIONS,
                "Tus-Max-Size": str(services.settings.upload_max_bytes),
                "Tus-Checksum-Algorithm": ",".join(CHECKSUMS),
            }
        ),
    )


@router.post("/", status_code=201)
@router.post("", status_code=201, include_in_schema=False)
async def create_upload(request: Request, services: ServicesDep) -> Response:
    """tus creation: ``Upload-Length`` (and optional ``Upload-Metadata`` with ``filename``,
    ``title``, ``description``) in; ``Location`` of the new upload out. Its id, the last
    part of the URL, is also the progress feed's: ``/uploads/{id}/progress``."""

    async def work() -> Response:
        user = await _user(request, services)
        row = await create(
            services,
            user,
            length=_int_header(request, "upload-length"),
            defer=request.headers.get("upload-defer-length"),
            metadata=request.headers.get("upload-metadata"),
        )
        expires = format_datetime(expires_at(services, row.updated_at), usegmt=True)
        return Response(
            status_code=201,
            headers=_headers(Location=f"{PREFIX}/{row.id}", **{"Upload-Expires": expires}),
        )

    return await _tus(request, work)


@router.head("/{upload_id}")
async def offset(upload_id: str, request: Request, services: ServicesDep) -> Response:
    """Where to resume: ``Upload-Offset`` (and ``Upload-Length``, ``Upload-Metadata``)."""

    async def work() -> Response:
        user = await _user(request, services)
        await resumable(services, user, upload_id)
        wait = services.settings.upload_lock_timeout_seconds
        async with live(services).locks.hold(upload_id, wait=wait):
            row = await resumable(services, user, upload_id)
            headers = _headers(
                **{
                    "Upload-Offset": str(current_offset(services, row)),
                    "Upload-Length": str(row.length),
                    "Cache-Control": "no-store",
                }
            )
            if row.metadata_header:
                headers["Upload-Metadata"] = row.metadata_header
            return Response(status_code=200, headers=headers)

    return await _tus(request, work, head=True)


@router.patch("/{upload_id}", status_code=204)
async def patch(upload_id: str, request: Request, services: ServicesDep) -> Response:
    """Append bytes at ``Upload-Offset`` (``application/offset+octet-stream``), optionally
    checked against ``Upload-Checksum``. 409 when the offset is not the upload's, 413 past
    ``Upload-Length``, 460 on a checksum mismatch, 415 for a wrong content type or when
    the first bytes are not an allowed format."""

    body = Body(request)

    async def work() -> Response:
        try:
            return await _patch(upload_id, request, services, body)
        except ServiceError as error:
            body.refuse(error)
            raise

    return await _tus(request, work)


async def _patch(upload_id: str, request: Request, services: Services, body: Body) -> Response:
    settings = services.settings
    watchdog = Watchdog(settings.upload_idle_timeout_seconds)
    wait = settings.upload_lock_timeout_seconds
    # The lock first: a client resuming after a cut must not read an offset that this
    # request (the one cut, perhaps still reading its buffered bytes) is about to move.
    async with live(services).locks.hold(upload_id, wait=wait, release=watchdog.stop):
        user = await _user(request, services)
        row = await resumable(services, user, upload_id)
        if request.headers.get("content-type", "").split(";")[0].strip() != OFFSET_TYPE:
            raise UnsupportedMediaType(f"a PATCH must be sent as {OFFSET_TYPE}")
        client_offset = _int_header(request, "upload-offset")
        if client_offset is None:
            raise BadRequest("Upload-Offset is required")
        checksum = parse_checksum(request.headers.get("upload-checksum"))
        length = content_length(request)
        if length is not None and row.length is not None and client_offset + length > row.length:
            raise PayloadTooLarge(f"the body goes past Upload-Length ({row.length})")
        done = await append_bytes(
            services,
            user,
            row,
            body.chunks(),
            offset=client_offset,
            checksum=checksum,
            watchdog=watchdog,
        )
    headers = _headers(**{"Upload-Offset": str(done.offset)})
    if not done.completed:
        expiry = expires_at(services, done.row.updated_at)
        headers["Upload-Expires"] = format_datetime(expiry, usegmt=True)
    return Response(status_code=204, headers=headers)


@router.delete("/{upload_id}", status_code=204)
async def delete(upload_id: str, request: Request, services: ServicesDep) -> Response:
    """tus termination: the partial upload is removed; its URL then answers 410."""

    async def work() -> Response:
        user = await _user(request, services)
        await resumable(services, user, upload_id)
        wait = services.settings.upload_lock_timeout_seconds
        async with live(services).locks.hold(upload_id, wait=wait):
            await terminate(services, await resumable(services, user, upload_id))
        return Response(status_code=204, headers=_headers())

    return await _tus(request, work)


@router.post("/{upload_id}", include_in_schema=False)
async def overridden(upload_id: str, request: Request, services: ServicesDep) -> Response:
    """``X-HTTP-Method-Override: PATCH`` (or DELETE) for clients that cannot send them."""
    method = request.headers.get("x-http-method-override", "").upper()
    if method == "PATCH":
        return await patch(upload_id, request, services)
    if method == "DELETE":
        return await delete(upload_id, request, services)
    error = BadRequest("POST to an upload URL needs X-HTTP-Method-Override: PATCH or DELETE")
    return await _tus(request, _raiser(error))


def _raiser(error: ServiceError) -> Callable[[], Awaitable[Response]]:
    async def work() -> Response:
        raise error

    return work
