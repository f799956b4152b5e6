"""Media put in place without an upload, through ``add_media`` as an upload would: for
lessons, tests and benchmarks (``server.call(add_file(...))`` from another thread)."""

from __future__ import annotations

import asyncio
import hashlib
import shutil
from pathlib import Path

from ..db.base import new_id
from ..services import Services
from ..users.schemas import User
from .packaging import Report
from .schemas import Media, MediaKind
from .service import add_media
from .synthetic import write_media


async def add_file(
    services: Services,
    owner: User,
    path: Path,
    *,
    title: str = "Synthetic clip",
    description: str = "",
    kind: MediaKind | None = None,
    report: Report | None = None,
) -> Media:
    """Add a copy of ``path`` (its kind from its suffix unless given); ``path`` is kept."""
    kind = kind or MediaKind(path.suffix.lower().lstrip("."))
    staged = services.settings.data_dir / f"staged-{new_id()}{kind.extension}"
    await asyncio.to_thread(shutil.copyfile, path, staged)
    try:
        digest, size = await asyncio.to_thread(_sha256, staged)
        return await add_media(
            services,
            staged,
            owner=owner,
            kind=kind,
            title=title,
            description=description,
            original_name=path.name,
            sha256=digest,
            size=size,
            report=report,
        )
    finally:
        staged.unlink(missing_ok=True)


async def add_synthetic(
    services: Services,
    owner: User,
    kind: MediaKind = MediaKind.mp4,
    seconds: float = 2.0,
    *,
    title: str = "Synthetic clip",
    report: Report | None = None,
) -> Media:
    """Generate ``seconds`` of synthetic media of ``kind`` and add it."""
    source = services.settings.data_dir / f"synthetic-{new_id()}{kind.extension}"
    await asyncio.to_thread(write_media, source, seconds)
    try:
        return await add_file(services, owner, source, title=title, kind=kind, report=report)
    finally:
        source.unlink(missing_ok=True)


def _sha256(path: Path) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    with path.open("rb") as file:
        while chunk := file.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size
