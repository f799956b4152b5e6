"""Where media live on disk, and the only ways a request's names become paths.

``data_dir/media/<id>/original.<ext>`` is the file as uploaded (moved in atomically);
``data_dir/media/<id>/hls/`` is its HLS version, written into ``hls.partial/`` and renamed
into place only when complete, so a reader never sees half a playlist. A media id and a
segment name from a URL are checked against fixed patterns before they touch a path, and
the result is checked to lie inside the media directory as well (defence in depth).
"""

from __future__ import annotations

import contextlib
import re
import shutil
from pathlib import Path

from ..config import Settings
from ..errors import NotFound
from .schemas import MediaKind

MEDIA = "media"
HLS = "hls"
PARTIAL = "hls.partial"
PLAYLIST = "index.m3u8"
SEGMENT_TEMPLATE = "seg_%05d.ts"
_ID = re.compile(r"[0-9a-f]{16}")
_HLS_NAME = re.compile(r"index\.m3u8|seg_\d{5}\.ts")


def media_root(settings: Settings) -> Path:
    return settings.data_dir / MEDIA


def media_dir(settings: Settings, media_id: str) -> Path:
    """The directory of one media id; ``NotFound`` for anything that is not an id."""
    if not _ID.fullmatch(media_id):
        raise NotFound("media", media_id[:64])
    return _inside(media_root(settings), media_id)


def original_path(settings: Settings, media_id: str, kind: MediaKind) -> Path:
    return media_dir(settings, media_id) / f"original{kind.extension}"


def hls_dir(settings: Settings, media_id: str) -> Path:
    return media_dir(settings, media_id) / HLS


def hls_file(settings: Settings, media_id: str, name: str) -> Path:
    """The playlist or one segment; ``NotFound`` for any other name (``..``, ``%2f``, ...)."""
    if not _HLS_NAME.fullmatch(name):
        raise NotFound("HLS file", name[:64])
    return _inside(hls_dir(settings, media_id), name)


def is_media_id(name: str) -> bool:
    return _ID.fullmatch(name) is not None


def remove_tree(path: Path) -> None:
    """Remove a directory (or file) if it exists; never follows a symlink out."""
    if path.is_symlink() or path.is_file():
        path.unlink(missing_ok=True)
    elif path.is_dir():
        shutil.rmtree(path, ignore_errors=True)


def remove_orphans(settings: Settings, known: set[str]) -> list[str]:
    """Delete every entry of the media directory that no row names (what a crash between
    the move and the insert leaves). Returns the names removed."""
    root = media_root(settings)
    removed = []
    with contextlib.suppress(FileNotFoundError):
        for entry in root.iterdir():
            if entry.name not in known:
                remove_tree(entry)
                removed.append(entry.name)
    return sorted(removed)


def _inside(root: Path, name: str) -> Path:
    path = root / name
    if not path.resolve().is_relative_to(root.resolve()):
        raise NotFound("media file", name[:64])
    return path
