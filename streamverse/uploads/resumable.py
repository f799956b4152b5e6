"""tus 1.0 operations (core, creation, termination, checksum, expiration) on our storage.

An upload is a row (its ``offset`` is committed after each PATCH) and a partial file under
``uploads/tus/``. A PATCH holds the upload's lock (``locks``) for its whole body, appends
at the committed offset through a ``Sink`` (the file is cut back to that offset first, so
bytes a crash left unverified never count), keeps what arrived when the connection is cut
(the client resumes from there), and, with ``Upload-Checksum``, keeps the bytes only if
the checksum matches (otherwise the file is cut back and the hash state restored). The
format is checked by the first bytes as they arrive; the PATCH that completes the upload
runs the same ``finalize`` as a multipart upload, under the lock.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import os
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from ..errors import BadRequest, Conflict, NotFound
from ..services import Services
from ..users.schemas import User
from ..videos.schemas import MediaKind
from . import storage
from .errors import ChecksumMismatch, Gone, PayloadTooLarge, UnsupportedMediaType
from .finalize import Described, fail, finalize, set_state
from .http import Disconnected
from .live import live
from .models import UploadRow
from .progress import Tracker
from .schemas import UploadState
from .service import TUS, check_head, owned, too_large
from .sink import Hash, Sink, new_hash, sha256
from .validation import SNIFF_BYTES, sanitize_filename, title_from
from .watchdog import Stopped, Watchdog

CHECKSUMS = ("sha1", "sha256", "md5")
MAX_METADATA = 4096
_METADATA_KEY = re.compile(r"[!-~]+")  # printable ASCII, no space; commas are split on


@dataclass(frozen=True)
class Patched:
    offset: int
    row: UploadRow
    completed: bool


def parse_metadata(header: str | None) -> dict[str, str]:
    """``Upload-Metadata``: ``key base64,key base64,...`` (values decoded as UTF-8)."""
    if not header:
        return {}
    if len(header) > MAX_METADATA or not header.isascii() or "\r" in header or "\n" in header:
        raise BadRequest(f"Upload-Metadata must be ASCII, at most {MAX_METADATA} characters")
    found: dict[str, str] = {}
    for pair in header.split(","):
        key, _, value = pair.strip().partition(" ")
        if not _METADATA_KEY.fullmatch(key) or key in found:
            raise BadRequest(f"malformed Upload-Metadata key {key[:40]!r}")
        try:
            found[key] = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise BadRequest(f"Upload-Metadata {key!r} is not base64 of UTF-8 text") from None
    return found


def parse_checksum(header: str | None) -> tuple[str, bytes] | None:
    """``Upload-Checksum: <algorithm> <base64 digest>``; 400 for an unsupported algorithm."""
    if header is None:
        return None
    algorithm, _, encoded = header.strip().partition(" ")
    if algorithm not in CHECKSUMS:
        raise BadRequest(
            f"unsupported checksum algorithm {algorithm[:20]!r}; use one of {', '.join(CHECKSUMS)}"
        )
    try:
        return algorithm, base64.b64decode(encoded.strip(), validate=True)
    except binascii.Error:
        raise BadRequest("Upload-Checksum's digest is not base64") from None


async def create(
    services: Services, owner: User, *, length: int | None, defer: str | None, metadata: str | None
) -> UploadRow:
    """A new, empty tus upload of ``length`` bytes."""
    if defer is not None:
        raise BadRequest("Upload-Defer-Length is not supported: send Upload-Length")
    if length is None:
        raise BadRequest("Upload-Length is required")
    if length > services.settings.upload_max_bytes:
        raise PayloadTooLarge(too_large(services))
    if length == 0:
        raise UnsupportedMediaType("an empty file is not media")
    meta = parse_metadata(metadata)
    name = sanitize_filename(meta.get("filename") or meta.get("name"))
    row = UploadRow(
        id=storage.new_upload_id(),
        owner_id=owner.id,
        protocol=TUS,
        state=UploadState.created.value,
        length=length,
        title=(meta.get("title") or title_from(name))[:200],
        description=meta.get("description", "")[:5000],
        original_name=name,
        metadata_header=metadata or None,
    )
    os.close(storage.open_tus(services.settings, row.id, create=True))
    try:
        async with services.store.session() as session:
            session.add(row)
            await session.commit()
    except BaseException:
        storage.remove(storage.tus_path(services.settings, row.id))
        raise
    return row


async def resumable(services: Services, user: User, upload_id: str) -> UploadRow:
    """The user's tus upload; 404 for unknown (or someone else's), 410 once it is over."""
    row = await owned(services, upload_id, user)
    if row.protocol != TUS:
        raise NotFound("tus upload", upload_id)
    if row.terminated or row.state == UploadState.failed.value:
        raise Gone(f"this upload can no longer be resumed ({row.reason or 'terminated'})")
    return row


def current_offset(services: Services, row: UploadRow) -> int:
    """The committed offset, lowered to what the file holds (after a power loss)."""
    if row.state not in (UploadState.created.value, UploadState.receiving.value):
        return row.offset  # complete: the file has become media
    try:
        size = storage.tus_path(services.settings, row.id).stat().st_size
    except FileNotFoundError:
        return 0
    return min(row.offset, size)


async def append(
    services: Services,
    user: User,
    row: UploadRow,
    body: AsyncIterator[bytes],
    *,
    offset: int,
    checksum: tuple[str, bytes] | None,
    watchdog: Watchdog,
) -> Patched:
    """One PATCH, with the upload's lock held by the caller."""
    settings, registry = services.settings, live(services)
    start = current_offset(services, row)
    if offset != start:
        raise Conflict(f"Upload-Offset is {offset} but the upload is at {start}; HEAD it first")
    assert row.length is not None
    if row.state not in (UploadState.created.value, UploadState.receiving.value):
        # Complete already (a client whose last answer was lost asks again): nothing to do.
        async for _chunk in body:
            raise PayloadTooLarge(f"the upload is complete: all {row.length} bytes are in")
        return Patched(start, row, completed=True)
    path = storage.tus_path(settings, row.id)
    known = registry.digests.pop(row.id, None)
    whole = known[1] if known is not None and known[0] == start else sha256() if not start else None
    saved = whole.copy() if whole is not None and checksum else None
    piece = new_hash(checksum[0]) if checksum else None
    hashes: tuple[Hash, ...] = tuple(h for h in (whole, piece) if h is not None)
    need_head = row.kind is None
    head = _read_head(path, start) if need_head and start else b""
    tracker = registry.trackers.get(row.id)
    if tracker is None:
        tracker = Tracker(
            services, row.id, state=UploadState.receiving, received=start, total=row.length
        )
        registry.trackers[row.id] = tracker
    if row.state == UploadState.created.value:
        row.state = UploadState.receiving.value
        await set_state(services, row.id, UploadState.receiving)
        await tracker.publish()
    sink = Sink(storage.open_tus(settings, row.id), offset=start, hashes=hashes, head=head)
    kind = MediaKind(row.kind) if row.kind else None
    cut = False
    try:
        try:
            async with watchdog.guard():
                async for chunk in body:
                    watchdog.touch()
                    if sink.offset + len(chunk) > row.length:
                        raise PayloadTooLarge(f"more bytes than Upload-Length ({row.length})")
                    sink.write(chunk)
                    if kind is None and len(sink.head) >= min(SNIFF_BYTES, row.length):
                        kind = check_head(bytes(sink.head), frozenset(MediaKind))
                    await sink.drain()
                    await tracker.advance(sink.offset)
        except (Stopped, Disconnected):
            cut = True
        finally:
            await sink.close()
        if piece is not None and checksum is not None and (cut or piece.digest() != checksum[1]):
            raise ChecksumMismatch("the PATCH body does not match Upload-Checksum")
    except UnsupportedMediaType as refused:
        storage.remove(path)
        await fail(services, tracker, refused.detail)
        raise
    except BaseException:
        os.truncate(path, start)  # this PATCH's bytes do not count
        if saved is not None:
            registry.digests[row.id] = (start, saved)
        raise
    end = sink.offset
    if whole is not None:
        registry.digests[row.id] = (end, whole)
    row.offset, row.kind = end, kind.value if kind else None
    await set_state(services, row.id, UploadState.receiving, offset=end, kind=row.kind)
    await tracker.advance(end)
    if end < row.length:
        return Patched(end, row, completed=False)
    if kind is None:  # the head was checked as it streamed; the whole file is short
        kind = check_head(_read_head(path, SNIFF_BYTES), frozenset(MediaKind))
    registry.digests.pop(row.id, None)
    digest = whole.hexdigest() if whole is not None else await asyncio.to_thread(_sha256, path)
    described = Described(row.title or "", row.description or "", row.original_name)
    await finalize(
        services, tracker, path, owner=user, kind=kind, described=described, sha256=digest, size=end
    )
    return Patched(end, row, completed=True)


async def terminate(services: Services, row: UploadRow) -> None:
    """DELETE: the partial file goes; the URL answers 410 from now on. (Media an upload
    already became is not touched: that is the videos domain's to delete.)"""
    registry = live(services)
    storage.remove(storage.tus_path(services.settings, row.id))
    registry.digests.pop(row.id, None)
    tracker = registry.trackers.pop(row.id, None)
    if row.state not in (UploadState.created.value, UploadState.receiving.value):
        await set_state(services, row.id, UploadState(row.state), terminated=True)
        return
    reason = "terminated by the uploader"
    await set_state(services, row.id, UploadState.failed, terminated=True, reason=reason)
    if tracker is not None:
        await tracker.move(UploadState.failed, reason=reason)


def _read_head(path: Path, size: int) -> bytes:
    with path.open("rb") as file:
        return file.read(min(size, SNIFF_BYTES))


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while block := file.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()
