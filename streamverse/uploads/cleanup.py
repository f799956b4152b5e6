"""Nothing partial stays: what a crash left, at startup and in every sweep; abandoned
uploads later. Who holds what is told by ``flock`` (see ``storage``), so servers sharing
the data directory never remove, or settle, each other's.

The policy:
- ``uploads/tmp/<id>.part``: a multipart body being received. On any failure (a disconnect
  included) the request removes its own file; a crash's leftovers (unlocked) are removed
  at the next startup, or sweep. So are unlocked ``<id>.pin`` names (``storage.Pin``).
- Uploads a crash left under way (``recovery``): multipart ``receiving`` and any
  ``validating`` whose files nobody locks become ``failed`` ("the server stopped while
  ...; upload it again"), their files removed, their feeds ended; validation is not run
  again. Uploads left ``processing`` get the outcome of the packaging the videos domain
  runs again at startup (``ready`` or ``failed``), relayed by a task started at startup.
- ``uploads/tus/<id>``: an unfinished tus upload, kept across restarts for its client to
  resume (a restart never fails one). One with no activity for ``upload_expiry_seconds``
  (default a day; every PATCH response says when in ``Upload-Expires``) is removed by a
  sweep that runs at startup and then every ``min(expiry / 4, 1 hour)``; its row stays,
  ``failed`` ("expired"), so its URL answers 410 Gone. A partial file no unfinished row
  knows of (a crash between the two, or a failed upload's) goes too, unless locked (one
  being validated).
- Ids from ``POST /uploads`` that never received a body expire the same way.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, update

from ..db.base import utcnow
from ..services import Services, services_of
from . import recovery, storage
from .live import live
from .models import UploadRow
from .schemas import UploadState

log = logging.getLogger(__name__)
UNFINISHED = (UploadState.created.value, UploadState.receiving.value)
EXPIRED = "expired: no bytes arrived for too long; start a new upload"


def expires_at(services: Services, updated_at: datetime) -> datetime:
    """When an unfinished upload last active at ``updated_at`` expires (UTC)."""
    if updated_at.tzinfo is None:  # SQLite hands times back without their zone: UTC
        updated_at = updated_at.replace(tzinfo=UTC)
    return updated_at + timedelta(seconds=services.settings.upload_expiry_seconds)


async def expire_uploads(services: Services, now: datetime | None = None) -> list[str]:
    """Remove unfinished uploads idle past the expiry (none that a request holds); their ids."""
    now = now or utcnow()
    cutoff = now - timedelta(seconds=services.settings.upload_expiry_seconds)
    registry = live(services)
    async with services.store.session() as session:
        query = select(UploadRow.id).where(
            UploadRow.state.in_(UNFINISHED), UploadRow.updated_at < cutoff
        )
        stale = [upload_id for upload_id in (await session.execute(query)).scalars()]
        stale = [upload_id for upload_id in stale if not registry.locks.held(upload_id)]
        if stale:
            await session.execute(
                update(UploadRow)
                .where(UploadRow.id.in_(stale), UploadRow.state.in_(UNFINISHED))
                .values(state=UploadState.failed.value, reason=EXPIRED, terminated=True)
            )
            await session.commit()
    for upload_id in stale:
        storage.remove(storage.tus_path(services.settings, upload_id))
        registry.digests.pop(upload_id, None)
        registry.trackers.pop(upload_id, None)
    return stale


async def remove_orphans(services: Services) -> list[str]:
    """tus partial files whose upload is not unfinished (or not known at all)."""
    directory = storage.tus_dir(services.settings)
    if not directory.is_dir():
        return []
    names = [entry.name for entry in directory.iterdir() if storage.is_upload_id(entry.name)]
    async with services.store.session() as session:
        query = select(UploadRow.id).where(UploadRow.id.in_(names), UploadRow.state.in_(UNFINISHED))
        keep = set((await session.execute(query)).scalars())
    orphans = []
    for name in names:
        path = storage.tus_path(services.settings, name)
        if name not in keep and not storage.held(path):  # held: pinned, being validated
            storage.remove(path)
            orphans.append(name)
    return orphans


async def sweep(services: Services) -> None:
    """Everything here is safe while uploads run, in this process or others."""
    for upload_id in await recovery.settle_abandoned(services):
        log.warning("upload %s was left under way by a crash: failed", upload_id)
    for name in storage.remove_abandoned_temp(services.settings):
        log.warning("removed a temporary upload file a crash left behind: %s", name)
    for name in await remove_orphans(services):
        log.warning("removed a tus partial file with no unfinished upload: %s", name)
    for upload_id in await expire_uploads(services):
        log.info("upload %s expired", upload_id)


async def _every(services: Services, seconds: float) -> None:
    while True:
        await asyncio.sleep(seconds)  # a schedule, not synchronisation
        try:
            await sweep(services)
        except Exception:
            log.exception("upload cleanup failed; trying again later")


@asynccontextmanager
async def lifespan(app: Any) -> AsyncIterator[None]:
    """The uploads router's lifespan (FastAPI runs it inside the app's, after the store is
    up): clean at startup, then sweep periodically until shutdown."""
    services = services_of(app)
    await sweep(services)
    relays = await recovery.relay_processing(services)
    interval = min(services.settings.upload_expiry_seconds / 4, 3600.0)
    task = asyncio.create_task(_every(services, interval), name="upload cleanup")
    try:
        yield
    finally:
        for running in (task, *relays):
            running.cancel()
        await asyncio.gather(task, *relays, return_exceptions=True)
