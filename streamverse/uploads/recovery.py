"""What a crash left under way: uploads whose row says someone works on them, while nobody
does. Their feeds would wait forever; here each is settled, its files removed and its end
published (a feed opened later ends at once anyway: its snapshot comes from the row).

- multipart ``receiving``: the body went with the connection; it can never finish.
- ``validating`` (multipart or tus): the file was complete, its check died with the
  process. It is not run again: a file that brought the server down while being checked
  (a decoder killed for its memory, say) would do so at every start. Both become
  ``failed``: "the server stopped while ...; upload it again".
- ``processing``: the media exists and the videos domain packages it again at its startup,
  but the relay to the upload died: a task here waits for that packaging and records
  ``ready`` or ``failed``.
- tus ``created``/``receiving`` and multipart ``created`` wait for their client (a tus
  upload resumes across restarts); idle ones expire (``cleanup``).

Live or abandoned is told by ``flock`` (as ``storage`` tells temporary files), so servers
sharing the data directory and database never settle each other's uploads: a multipart
body's ``tmp/<id>.part`` is locked before its row says ``receiving`` and until validation
is over, and a file being validated has the locked second name ``tmp/<id>.pin`` until its
row has left ``validating`` (``storage.Pin``). A row in one of those states with neither
name locked has nobody working on it, whatever process looks, so every sweep settles them.
The ``processing`` relay runs at startup only: it follows the videos domain, whose startup
packages again every unfinished video (one server per data directory, there).
"""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy import and_, or_, select, update

from ..db.base import utcnow
from ..errors import NotFound
from ..services import Services
from ..videos import service as videos
from ..videos.schemas import MediaStatus
from . import storage
from .live import live
from .models import UploadRow
from .progress import Tracker
from .schemas import UploadState
from .service import MULTIPART

log = logging.getLogger(__name__)
STOPPED = "the server stopped while {doing} this upload; upload it again"
GONE = "the media this upload became no longer exists"


async def _settle(
    services: Services, upload_id: str, seen: str, state: UploadState, **values: object
) -> UploadRow | None:
    """Move the row to ``state`` if it is still in ``seen``; the row then, else None."""
    async with services.store.session() as session:
        moved = await session.execute(
            update(UploadRow)
            .where(UploadRow.id == upload_id, UploadRow.state == seen)
            .values(state=state.value, updated_at=utcnow(), **values)
            .returning(UploadRow.id)
        )
        if moved.scalar_one_or_none() is None:
            return None
        await session.commit()
        return await session.get(UploadRow, upload_id)


def _live(services: Services, upload_id: str) -> bool:
    settings = services.settings
    return storage.held(storage.temp_path(settings, upload_id)) or storage.held(
        storage.pin_path(settings, upload_id)
    )


async def settle_abandoned(services: Services) -> list[str]:
    """Fail the multipart ``receiving`` and the ``validating`` uploads nobody holds."""
    settings = services.settings
    working = or_(
        UploadRow.state == UploadState.validating.value,
        and_(UploadRow.protocol == MULTIPART, UploadRow.state == UploadState.receiving.value),
    )
    async with services.store.session() as session:
        query = select(UploadRow.id, UploadRow.state).where(working)
        found = [(row.id, row.state) for row in await session.execute(query)]
    settled = []
    for upload_id, seen in found:
        if _live(services, upload_id):
            continue
        reason = STOPPED.format(doing=seen)
        row = await _settle(services, upload_id, seen, UploadState.failed, reason=reason)
        if row is None:
            continue  # it moved on meanwhile: its process finished it
        for path in (
            storage.temp_path(settings, upload_id),
            storage.pin_path(settings, upload_id),
            storage.tus_path(settings, upload_id),
        ):
            storage.remove(path)
        live(services).digests.pop(upload_id, None)
        await Tracker.from_row(services, row).move(UploadState.failed, reason=reason)
        settled.append(upload_id)
    return settled


async def relay_processing(services: Services) -> list[asyncio.Task[None]]:
    """A task per upload left ``processing`` (none of this process's), recording what
    its media becomes. The caller keeps them and cancels them at shutdown."""
    ours = live(services).trackers
    async with services.store.session() as session:
        query = select(UploadRow.id, UploadRow.media_id).where(
            UploadRow.state == UploadState.processing.value
        )
        found = [(row.id, row.media_id) for row in await session.execute(query)]
    return [
        asyncio.create_task(_relay(services, upload_id, media_id or ""), name=f"relay {upload_id}")
        for upload_id, media_id in found
        if upload_id not in ours
    ]


async def _relay(services: Services, upload_id: str, media_id: str) -> None:
    reason: str | None
    try:
        try:
            media = await videos.wait_packaged(services, media_id)
        except NotFound:
            state, reason = UploadState.failed, GONE
        else:
            if media.status == MediaStatus.processing:
                return  # packaging stopped (a shutdown): the next startup relays again
            ready = media.status == MediaStatus.ready
            state = UploadState.ready if ready else UploadState.failed
            reason = None if ready else media.reason or "processing failed"
        seen = UploadState.processing.value
        row = await _settle(services, upload_id, seen, state, reason=reason)
        if row is not None:
            processed = 1.0 if state == UploadState.ready else None
            tracker = Tracker.from_row(services, row)
            await tracker.move(state, reason=reason, processed=processed, media_id=row.media_id)
            log.info("upload %s settled after a restart: %s", upload_id, state.value)
    except Exception:
        log.exception("could not settle upload %s after a restart", upload_id)
