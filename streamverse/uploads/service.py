"""Uploads: make an id before the bytes, receive a multipart body once to disk, report.

``receive_multipart`` is the whole path of ``POST /streams/upload-video/`` and
``POST /streams/upload-with-progress/``: size checked against ``Content-Length`` before a
byte is read, the body parsed as it arrives (``multipart``), the file written once to a
private temporary file (``sink``, ``storage``), its format checked by its first bytes while
it streams (``validation``), counted against the limit chunk by chunk, a stalled body cut
(``watchdog``), progress published (``progress``); then ``finalize`` hands it to the
videos domain. Any failure, a disconnect included, removes the temporary file.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

from sqlalchemy import update

from ..db.base import utcnow
from ..errors import BadRequest, Conflict, NotFound
from ..services import Services
from ..users.schemas import User
from ..videos.schemas import MediaKind
from . import storage
from .errors import PayloadTooLarge, UnsupportedMediaType
from .finalize import Described, fail, finalize, reason_of
from .live import live
from .models import UploadRow
from .multipart import FORM_OVERHEAD, MultipartReader
from .progress import Tracker
from .schemas import UploadCreate, UploadProgress, UploadResult, UploadState, UploadTicket
from .sink import Sink, sha256
from .validation import ALLOWED, SNIFF_BYTES, sanitize_filename, sniff, title_from
from .watchdog import Stopped, Watchdog

MULTIPART = "multipart"
TUS = "tus"
VIDEO_KINDS = frozenset(kind for kind in MediaKind if kind.is_video)


def progress_url(upload_id: str) -> str:
    return f"/uploads/{upload_id}/progress"


def ticket(row: UploadRow) -> UploadTicket:
    return UploadTicket(
        id=row.id,
        state=UploadState(row.state),
        progress_url=progress_url(row.id),
        progress_ws_url=f"{progress_url(row.id)}/ws",
        upload_url=f"/streams/upload-with-progress/?upload_id={row.id}",
    )


async def create_upload(services: Services, owner: User, body: UploadCreate) -> UploadTicket:
    """An upload id for a multipart upload to come: watch it before sending the bytes."""
    if body.size is not None and body.size > services.settings.upload_max_bytes + FORM_OVERHEAD:
        raise PayloadTooLarge(too_large(services))
    row = UploadRow(
        id=storage.new_upload_id(),
        owner_id=owner.id,
        protocol=MULTIPART,
        state=UploadState.created.value,
        length=body.size,
        title=body.title,
        description=body.description,
    )
    async with services.store.session() as session:
        session.add(row)
        await session.commit()
    return ticket(row)


def too_large(services: Services) -> str:
    return f"the file is larger than the limit of {services.settings.upload_max_bytes} bytes"


async def owned(services: Services, upload_id: str, user: User) -> UploadRow:
    """The upload if it is ``user``'s; ``NotFound`` otherwise (whether it exists or not)."""
    row = await find(services, upload_id)
    if row is None or row.owner_id != user.id:
        raise NotFound("upload", upload_id[:64])
    return row


async def find(services: Services, upload_id: str) -> UploadRow | None:
    if not storage.is_upload_id(upload_id):
        return None
    async with services.store.session() as session:
        return await session.get(UploadRow, upload_id)


async def progress(services: Services, upload_id: str) -> UploadProgress:
    """An upload's progress now (the feed's snapshot); ``NotFound`` for an unknown id."""
    tracker = live(services).trackers.get(upload_id)
    if tracker is not None:
        return tracker.snapshot()
    row = await find(services, upload_id)
    if row is None:
        raise NotFound("upload", upload_id[:64])
    return Tracker.from_row(services, row).snapshot()


async def _claim(
    services: Services, owner: User, upload_id: str | None, length: int | None
) -> tuple[UploadRow, storage.Temp]:
    """The upload this body is for, and its locked temporary file: a new upload, or a
    created one of ``owner``'s, which it turns ``receiving`` (in the database, so one body
    only, across processes). The file is locked before the row says ``receiving``, so no
    other server's ``recovery`` ever takes this upload for one a crash left."""
    conflict = Conflict(f"upload {upload_id!r} has already received a body; create a new one")
    if upload_id is None:
        row = UploadRow(
            id=storage.new_upload_id(),
            owner_id=owner.id,
            protocol=MULTIPART,
            state=UploadState.receiving.value,
            length=length,
        )
        temp = storage.open_temp(services.settings, row.id)
    else:
        row = await owned(services, upload_id, owner)
        if row.protocol != MULTIPART:
            raise conflict
        try:
            temp = storage.open_temp(services.settings, row.id)
        except FileExistsError:
            raise conflict from None
    try:
        async with services.store.session() as session:
            if upload_id is None:
                session.add(row)
            else:
                claimed = await session.execute(
                    update(UploadRow)
                    .where(UploadRow.id == row.id, UploadRow.state == UploadState.created.value)
                    .values(state=UploadState.receiving.value, updated_at=utcnow())
                    .returning(UploadRow.id)
                )
                if claimed.scalar_one_or_none() is None:
                    raise conflict
            await session.commit()
    except BaseException:
        os.close(temp.fd)
        temp.discard()
        raise
    row.state = UploadState.receiving.value
    row.length = row.length if row.length is not None else length
    return row, temp


async def receive_multipart(
    services: Services,
    owner: User,
    body: AsyncIterator[bytes],
    *,
    content_type: str | None,
    content_length: int | None,
    upload_id: str | None = None,
    kinds: frozenset[MediaKind] = frozenset(MediaKind),
    title_required: bool = False,
) -> UploadResult:
    """Receive one multipart upload (fields: file, title, description) into media."""
    settings = services.settings
    limit = settings.upload_max_bytes
    if content_length is not None and content_length > limit + FORM_OVERHEAD:
        raise PayloadTooLarge(too_large(services))  # before reading a byte of the body
    row, temp = await _claim(services, owner, upload_id, content_length)
    tracker = Tracker(services, row.id, state=UploadState.receiving, total=row.length)
    live(services).trackers[row.id] = tracker
    digest = sha256()
    sink = Sink(temp.fd, hashes=(digest,))
    found: list[MediaKind] = []

    def check(head: bytes) -> None:
        found.append(check_head(head, kinds))

    try:
        try:
            await tracker.publish()
            reader = MultipartReader(
                content_type, sink, max_file=limit, on_head=check, head_bytes=SNIFF_BYTES
            )
            received = 0
            watchdog = Watchdog(settings.upload_idle_timeout_seconds)
            async with watchdog.guard():
                async for chunk in body:
                    watchdog.touch()
                    received += len(chunk)
                    if received > limit + FORM_OVERHEAD:
                        raise PayloadTooLarge(too_large(services))
                    reader.feed(chunk)
                    await sink.drain()
                    await tracker.advance(received)
            form = reader.finish()
        finally:
            await sink.close()
        title = form.fields.get("title") or row.title
        if title_required and not title:
            raise BadRequest("a title is required (form field 'title')")
        name = sanitize_filename(form.filename)
        described = Described(
            title=title or title_from(name),
            description=form.fields.get("description") or row.description or "",
            original_name=name,
        )
        if tracker.total is None:
            tracker.total = received
        await tracker.advance(received)
    except Stopped as stopped:
        await fail(services, tracker, stopped.reason, then=temp.discard)
        raise BadRequest(f"upload cut: {stopped.reason}") from None
    except BaseException as error:
        await fail(services, tracker, reason_of(error), then=temp.discard)
        raise
    media = await finalize(
        services,
        tracker,
        temp.path,
        lock=temp.lock,
        owner=owner,
        kind=found[0],
        described=described,
        sha256=digest.hexdigest(),
        size=sink.written,
    )
    return UploadResult(**media.model_dump(), upload_id=row.id, progress_url=progress_url(row.id))


def check_head(head: bytes, kinds: frozenset[MediaKind]) -> MediaKind:
    """The format ``head`` shows, if allowed; ``UnsupportedMediaType`` otherwise."""
    kind = sniff(head)
    if kind is None:
        raise UnsupportedMediaType(
            f"the file's content is not an allowed format ({ALLOWED}); its name and "
            "Content-Type do not count"
        )
    if kind not in kinds:
        names = ", ".join(sorted(k.value for k in kinds))
        raise UnsupportedMediaType(f"this is {kind.value}; this endpoint takes {names}")
    return kind
