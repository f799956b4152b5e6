"""One video's HLS packaging as a background task: the blocking ``hls.package`` in a worker
thread, its progress relayed in order to ``report``, the result swapped into place.

``hls.partial/`` becomes ``hls/`` with one rename only when every segment is written, and
the row turns ``ready`` after that, so ``GET .../hls/index.m3u8`` never sees half a
playlist. A failure leaves the row ``failed`` with the reason; cancellation (shutdown)
stops the thread at its next frame, removes the partial output and leaves the row
``processing`` for the next startup.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path

from sqlalchemy import update

from ..services import Services
from . import hls, storage
from .models import MediaRow
from .schemas import MediaKind, MediaStatus
from .tasks import packaging_of

Report = Callable[[str, float | None, str | None], Awaitable[None]]
"""``report(state, fraction, reason)``: state is processing, ready or failed."""

log = logging.getLogger(__name__)


async def notify(
    report: Report | None, state: str, fraction: float | None, reason: str | None
) -> None:
    """Call ``report``; a failing reporter is logged, never fails the work it reports on."""
    if report is None:
        return
    try:
        await report(state, fraction, reason)
    except Exception:
        log.exception("media progress report %s failed", state)


async def set_status(
    services: Services, media_id: str, status: MediaStatus, reason: str | None = None
) -> None:
    async with services.store.session() as session:
        query = update(MediaRow).where(MediaRow.id == media_id)
        await session.execute(query.values(status=status.value, reason=reason))
        await session.commit()


async def package_media(services: Services, media_id: str, report: Report | None) -> None:
    """Package one stored video as HLS (the body of its background task)."""
    settings = services.settings
    async with packaging_of(services).slots:
        async with services.store.session() as session:
            row = await session.get(MediaRow, media_id)
            if row is None or row.status != MediaStatus.processing:
                return
            row.attempts += 1
            await session.commit()
            source = storage.original_path(settings, media_id, MediaKind(row.kind))
            duration = row.duration_seconds
        partial = storage.media_dir(settings, media_id) / storage.PARTIAL
        storage.remove_tree(partial)
        partial.mkdir()
        try:
            await _run(services, source, partial, duration, report)
            final = storage.hls_dir(settings, media_id)
            storage.remove_tree(final)
            os.replace(partial, final)
        except (hls.PackagingError, OSError) as error:
            storage.remove_tree(partial)
            await set_status(services, media_id, MediaStatus.failed, str(error))
            await notify(report, "failed", None, str(error))
            return
        except BaseException:
            storage.remove_tree(partial)
            raise
    await set_status(services, media_id, MediaStatus.ready)
    await notify(report, "ready", 1.0, None)


async def _run(
    services: Services,
    source: Path,
    out: Path,
    duration: float | None,
    report: Report | None,
) -> None:
    """``hls.package`` in a thread; its progress reaches ``report`` in order, from here."""
    settings = services.settings
    loop = asyncio.get_running_loop()
    fractions: asyncio.Queue[float] = asyncio.Queue()  # at most 100 (steps of 1 %)
    stop = threading.Event()

    def progress(fraction: float) -> None:
        loop.call_soon_threadsafe(fractions.put_nowait, fraction)

    worker = asyncio.ensure_future(
        asyncio.to_thread(
            hls.package,
            source,
            out,
            segment_seconds=settings.media_hls_segment_seconds,
            max_height=settings.media_hls_max_height,
            duration=duration,
            progress=progress,
            stop=stop,
        )
    )
    try:
        while not worker.done():
            next_fraction = asyncio.ensure_future(fractions.get())
            await asyncio.wait({worker, next_fraction}, return_when=asyncio.FIRST_COMPLETED)
            if next_fraction.done():
                await notify(report, "processing", next_fraction.result(), None)
            else:
                next_fraction.cancel()
        worker.result()
    except asyncio.CancelledError:
        stop.set()  # the thread ends at its next frame; wait, so its files are closed
        await asyncio.wait({worker})
        if not worker.cancelled():
            worker.exception()  # PackagingStopped, expected: retrieved, so never logged
        raise
