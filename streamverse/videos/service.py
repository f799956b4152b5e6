"""Media: add a probed file (then package video as HLS in the background), list and find
media, resolve the files that playback serves, and recover at startup.

``add_media`` is what every upload path ends in (multipart and tus alike): the upload
domain streams the bytes to a temporary file in the data directory, checks the magic bytes
and the size, and hands the file over; from here on the media domain owns it.
"""

from __future__ import annotations

import asyncio
import errno
import functools
import logging
import os
import shutil
from pathlib import Path

from sqlalchemy import func, select

from ..db.base import new_id, utcnow
from ..errors import NotFound, ServiceError
from ..services import Services
from ..users.schemas import User
from . import storage
from .models import MediaRow
from .packaging import Report, notify, package_media, set_status
from .probe import ProbeError, probe
from .schemas import Media, MediaKind, MediaPage, MediaStatus
from .tasks import fresh_packaging, packaging_of

__all__ = ["Report", "UnsupportedMedia", "add_media", "get_media", "list_media"]
log = logging.getLogger(__name__)


class UnsupportedMedia(ServiceError):
    status = 415


class NotReady(ServiceError):
    """404 for the HLS version of a video still being packaged (or failed): not cached,
    since it will exist soon."""

    status = 404

    def __init__(self, detail: str) -> None:
        super().__init__(detail, headers={"Cache-Control": "no-store"})


async def add_media(
    services: Services,
    source: Path,
    *,
    owner: User,
    kind: MediaKind,
    title: str,
    description: str,
    original_name: str,
    sha256: str,
    size: int,
    report: Report | None = None,
) -> Media:
    """Probe ``source``, move it into the media directory, record it; package video as HLS
    in a background task whose progress goes to ``report``.

    ``UnsupportedMedia`` (415) when it does not decode as ``kind``. On success ``source``
    no longer exists; on any failure it is left where it was, for the caller to remove.
    Audio is ``ready`` at once (``report("ready", 1.0, None)`` before this returns); video
    reports ``processing`` now, then fractions, then ``ready`` or ``failed`` with a reason.
    """
    settings = services.settings
    try:
        found = await asyncio.to_thread(probe, source, kind)
    except ProbeError as error:
        raise UnsupportedMedia(f"not a playable {kind.value} file: {error}") from error
    media_id = new_id()
    directory = storage.media_dir(settings, media_id)
    target = storage.original_path(settings, media_id, kind)
    directory.mkdir(parents=True)
    row = MediaRow(
        id=media_id,
        owner_id=owner.id,
        title=title,
        description=description,
        kind=kind.value,
        content_type=kind.content_type,
        size=size,
        sha256=sha256,
        duration_seconds=found.duration_seconds,
        original_name=original_name,
        status=(MediaStatus.processing if kind.is_video else MediaStatus.ready).value,
        width=found.width,
        height=found.height,
        video_codec=found.video_codec,
        audio_codec=found.audio_codec,
        created_at=utcnow(),
    )
    try:
        await asyncio.to_thread(_move, source, target)
        try:
            async with services.store.session() as session:
                session.add(row)
                await session.commit()
        except BaseException:
            os.replace(target, source)  # give the file back, as it was
            raise
    except BaseException:
        storage.remove_tree(directory)
        raise
    media = to_media(row)
    if kind.is_video:
        await notify(report, "processing", 0.0, None)
        work = functools.partial(package_media, services, media_id, report)
        packaging_of(services).start(media_id, work)
    else:
        await notify(report, "ready", 1.0, None)
    return media


def _move(source: Path, target: Path) -> None:
    """Atomically; across filesystems (a misconfigured temp dir) by copy, rename, unlink."""
    try:
        os.replace(source, target)
    except OSError as error:
        if error.errno != errno.EXDEV:
            raise
        partial = target.with_name(target.name + ".partial")
        try:
            shutil.copyfile(source, partial)
            os.replace(partial, target)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        source.unlink()


def to_media(row: MediaRow) -> Media:
    media = Media.model_validate(row)
    media.url = f"/videos/{row.id}"
    if media.status == MediaStatus.ready and media.kind.is_video:
        media.hls_url = f"/videos/{row.id}/hls/{storage.PLAYLIST}"
    return media


async def get_media(services: Services, media_id: str) -> Media:
    return to_media(await _row(services, media_id))


async def _row(services: Services, media_id: str) -> MediaRow:
    if not storage.is_media_id(media_id):
        raise NotFound("video", media_id[:64])
    async with services.store.session() as session:
        row = await session.get(MediaRow, media_id)
    if row is None:
        raise NotFound("video", media_id)
    return row


async def list_media(services: Services, limit: int, offset: int) -> MediaPage:
    """Newest first (ties broken by id, so pages never overlap or skip)."""
    async with services.store.session() as session:
        total = (await session.execute(select(func.count()).select_from(MediaRow))).scalar_one()
        query = (
            select(MediaRow)
            .order_by(MediaRow.created_at.desc(), MediaRow.id.desc())
            .limit(limit)
            .offset(offset)
        )
        rows = list((await session.execute(query)).scalars())
    following = offset + len(rows)
    return MediaPage(
        items=[to_media(row) for row in rows],
        total=total,
        limit=limit,
        offset=offset,
        next_offset=following if following < total and rows else None,
    )


async def original_file(services: Services, media_id: str) -> tuple[Path, Media]:
    """The stored original and its record (``NotFound`` if either is missing)."""
    row = await _row(services, media_id)
    path = storage.original_path(services.settings, media_id, MediaKind(row.kind))
    if not path.is_file():
        raise NotFound("video file", media_id)
    return path, to_media(row)


async def hls_file(services: Services, media_id: str, name: str) -> tuple[Path, Media]:
    """The playlist or a segment of a ready video; ``NotFound`` until packaging is done."""
    path = storage.hls_file(services.settings, media_id, name)  # checks the names first
    media = await get_media(services, media_id)
    if media.status != MediaStatus.ready or not media.kind.is_video:
        if not media.kind.is_video:
            raise NotFound("HLS version of audio", media_id)
        raise NotReady(f"the HLS version of video {media_id!r} is not ready: {media.status.value}")
    if not path.is_file():
        raise NotFound("HLS file", name)
    return path, media


async def wait_packaged(services: Services, media_id: str) -> Media:
    """Until the video's packaging task (if any) has ended; its record then."""
    await packaging_of(services).wait(media_id)
    return await get_media(services, media_id)


async def recover(services: Services) -> None:
    """At startup: remove media directories no row names (a crash between the move and the
    insert), and package again each video a crash or shutdown left ``processing``, up to
    ``media_packaging_attempts`` runs; past that it is marked failed."""
    settings = services.settings
    storage.media_root(settings).mkdir(parents=True, exist_ok=True)
    packaging = fresh_packaging(services)
    async with services.store.session() as session:
        ids = set((await session.execute(select(MediaRow.id))).scalars())
        query = select(MediaRow.id, MediaRow.attempts).where(
            MediaRow.status == MediaStatus.processing.value
        )
        unfinished = [(row.id, row.attempts) for row in await session.execute(query)]
    for name in storage.remove_orphans(settings, ids):
        log.warning("removed orphan media entry %s", name)
    for media_id, attempts in unfinished:
        if attempts >= settings.media_packaging_attempts:
            reason = f"packaging was interrupted {attempts} times"
            await set_status(services, media_id, MediaStatus.failed, reason)
        else:
            packaging.start(media_id, functools.partial(package_media, services, media_id, None))


async def shutdown(services: Services) -> None:
    """Cancel running packaging (each row stays ``processing``: the next start resumes it)."""
    await packaging_of(services).close()
