"""The end of every upload, multipart or tus: validate, hand the file to the videos domain,
and relay its processing reports onto the upload's progress topic.

``videos.service.add_media`` probes the file (415 when it does not decode), moves it
atomically into ``data_dir/media/``, records it, and for video starts HLS packaging in the
background, reporting ``processing`` fractions and then ``ready`` or ``failed``. Reports
that come before ``add_media`` returns (audio is ready at once) are held back and replayed
once the media id is known, so every event after ``validating`` names its media. While
``validating``, the file is pinned (``storage.Pin``): how ``recovery`` in another server
tells this live upload from one a crash left.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import update

from ..db.base import utcnow
from ..errors import ServiceError
from ..services import Services
from ..users.schemas import User
from ..videos import service as videos
from ..videos.schemas import Media, MediaKind
from . import storage
from .live import live
from .models import UploadRow
from .progress import Tracker
from .schemas import UploadState
from .storage import Pin


@dataclass(frozen=True)
class Described:
    title: str
    description: str
    original_name: str


async def set_state(
    services: Services, upload_id: str, state: UploadState, **values: object
) -> None:
    """Persist an upload's state (and any other columns given)."""
    async with services.store.session() as session:
        statement = (
            update(UploadRow)
            .where(UploadRow.id == upload_id)
            .values(state=state.value, updated_at=utcnow(), **values)
        )
        await session.execute(statement)
        await session.commit()


async def fail(
    services: Services, tracker: Tracker, reason: str, *, then: Callable[[], None] | None = None
) -> None:
    """Record and publish ``failed``; the tracker is done. ``then`` (removing the files)
    runs once the row says so, before it is published: a process that sees the row before
    cannot take the upload for abandoned (``recovery``), and a watcher told finds nothing."""
    try:
        await set_state(services, tracker.upload_id, UploadState.failed, reason=reason)
    finally:
        if then is not None:
            then()
    await tracker.move(UploadState.failed, reason=reason)
    live(services).trackers.pop(tracker.upload_id, None)


def reason_of(error: BaseException) -> str:
    if isinstance(error, ServiceError):
        return error.detail
    return "the upload was interrupted on the server"


class Handover:
    """The ``report`` callback given to ``add_media``: persists and publishes its states."""

    def __init__(self, services: Services, tracker: Tracker, pin: Pin) -> None:
        self.services, self.tracker, self.pin = services, tracker, pin
        self.media_id: str | None = None
        self._held: tuple[str, float | None, str | None] | None = None

    async def report(self, state: str, fraction: float | None, reason: str | None) -> None:
        if self.media_id is None:
            self._held = (state, fraction, reason)  # the latest one is enough
            return
        await self._apply(state, fraction, reason)

    async def stored(self, media: Media) -> None:
        self.media_id = media.id
        await set_state(
            self.services, self.tracker.upload_id, UploadState.processing, media_id=media.id
        )
        self.pin.drop()  # no longer validating: nothing for anyone to recover
        held, self._held = self._held, None
        if held is None:
            held = ("processing", 0.0, None)
        await self._apply(*held)

    async def _apply(self, state: str, fraction: float | None, reason: str | None) -> None:
        tracker, upload_id = self.tracker, self.tracker.upload_id
        if tracker.state.final:
            return
        if state == "ready":
            await set_state(self.services, upload_id, UploadState.ready)
            await tracker.move(UploadState.ready, processed=1.0, media_id=self.media_id)
        elif state == "failed":
            await fail(self.services, tracker, reason or "processing failed")
            return
        else:
            await tracker.move(UploadState.processing, processed=fraction, media_id=self.media_id)
            return
        live(self.services).trackers.pop(upload_id, None)


async def finalize(
    services: Services,
    tracker: Tracker,
    source: Path,
    *,
    owner: User,
    kind: MediaKind,
    described: Described,
    sha256: str,
    size: int,
    lock: int | None = None,
) -> Media:
    """``source`` (complete, its first bytes already checked) becomes media; on any failure
    it is removed and the upload marked failed. While ``validating`` it is pinned (see
    ``storage.Pin``); ``lock`` is a descriptor holding its ``flock`` already (given over)."""
    try:
        pin = storage.pin(services.settings, tracker.upload_id, source, lock)
    except BaseException as error:
        await fail(services, tracker, reason_of(error), then=lambda: storage.remove(source))
        raise
    try:
        await set_state(
            services,
            tracker.upload_id,
            UploadState.validating,
            offset=tracker.received,
            length=tracker.total,
        )
        await tracker.move(UploadState.validating)
        handover = Handover(services, tracker, pin)
        try:
            media = await videos.add_media(
                services,
                source,
                owner=owner,
                kind=kind,
                title=described.title,
                description=described.description,
                original_name=described.original_name,
                sha256=sha256,
                size=size,
                report=handover.report,
            )
        except BaseException as error:

            def discard() -> None:
                storage.remove(source)
                pin.drop()

            await fail(services, tracker, reason_of(error), then=discard)
            raise
        await handover.stored(media)
    finally:
        pin.close()
    return media
