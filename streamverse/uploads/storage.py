"""Where upload bytes live on disk, and the only ways an id becomes a path.

``data_dir/uploads/tmp/<random>.part``: a multipart body being received. Each is held
under an exclusive ``flock`` by the process writing it, for as long as it writes, so a
starting server removes exactly what a crashed one left behind, while several servers can
share the data directory. ``data_dir/uploads/tus/<upload id>``: an unfinished tus upload,
kept across restarts (that is the point of tus) until it completes, is terminated or
expires. Names are server-made (random hex, checked against a pattern, and the resolved
path checked to lie inside its directory); nothing a client sends becomes part of a path.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import re
import secrets
import time
from pathlib import Path

from ..config import Settings
from ..errors import NotFound

UPLOADS = "uploads"
TMP = "tmp"
TUS = "tus"
_UPLOAD_ID = re.compile(r"[0-9a-f]{32}")
_TMP_NAME = re.compile(r"[0-9a-f]{32}\.part|\.[0-9a-f]{32}\.new")
FRESH_GRACE_SECONDS = 60.0
"""A ``.new`` file is locked within microseconds of its creation; one older than this and
unlocked was left by a crash in between."""


def new_upload_id() -> str:
    """128 random bits: unguessable, so an upload's id can also stand for its owner's
    permission to follow its progress (see ``progress``)."""
    return secrets.token_hex(16)


def is_upload_id(value: str) -> bool:
    return bool(_UPLOAD_ID.fullmatch(value))


def tmp_dir(settings: Settings) -> Path:
    return settings.data_dir / UPLOADS / TMP


def tus_dir(settings: Settings) -> Path:
    return settings.data_dir / UPLOADS / TUS


def tus_path(settings: Settings, upload_id: str) -> Path:
    """The partial file of a tus upload; ``NotFound`` for anything that is not an id."""
    if not is_upload_id(upload_id):
        raise NotFound("upload", upload_id[:64])
    return _inside(tus_dir(settings), upload_id)


def _inside(directory: Path, name: str) -> Path:
    path = (directory / name).resolve()
    if path.parent != directory.resolve():
        raise NotFound("upload", name[:64])  # unreachable with checked names: defence in depth
    return path


def open_temp(settings: Settings) -> tuple[int, Path]:
    """A new, empty, private temporary file (``O_EXCL``, mode 0600) and its path, locked
    with ``flock`` until its descriptor is closed (or the process dies)."""
    directory = tmp_dir(settings)
    directory.mkdir(parents=True, exist_ok=True)
    name = secrets.token_hex(16)
    fresh = _inside(directory, f".{name}.new")  # a name the cleaner spares while young...
    fd = os.open(fresh, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        path = _inside(directory, f"{name}.part")
        os.rename(fresh, path)  # ...until it is locked
    except BaseException:
        os.close(fd)
        remove(fresh)
        raise
    return fd, path


def open_tus(settings: Settings, upload_id: str, *, create: bool = False) -> int:
    """A tus upload's partial file, opened for writing (made empty when ``create``)."""
    path = tus_path(settings, upload_id)
    flags = os.O_WRONLY | getattr(os, "O_CLOEXEC", 0)
    if create:
        path.parent.mkdir(parents=True, exist_ok=True)
        flags |= os.O_CREAT | os.O_EXCL
    return os.open(path, flags, 0o600)


def remove_abandoned_temp(settings: Settings) -> list[str]:
    """Delete every temporary file no live process holds (a crash's leftovers); their names."""
    directory = tmp_dir(settings)
    removed: list[str] = []
    if not directory.is_dir():
        return removed
    for entry in directory.iterdir():
        if not _TMP_NAME.fullmatch(entry.name) or not entry.is_file():
            continue
        if (
            entry.name.endswith(".new")
            and time.time() - entry.stat().st_mtime < FRESH_GRACE_SECONDS
        ):
            continue
        with contextlib.suppress(FileNotFoundError):
            fd = os.open(entry, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as error:
                if error.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                continue  # another process is writing it right now
            finally:
                os.close(fd)
            entry.unlink()
            removed.append(entry.name)
    return removed


def remove(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
