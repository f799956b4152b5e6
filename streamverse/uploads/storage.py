"""Where upload bytes live on disk, and the only ways an id becomes a path.

``data_dir/uploads/tmp/<upload id>.part``: a multipart body being received. Each is held
under an exclusive ``flock`` by the process working on it, from before its row says
``receiving`` until validation is over, so a server removes exactly what a crashed one left
behind (and ``recovery`` fails exactly the uploads a crash left), while several servers can
share the data directory. ``tmp/<upload id>.pin``: a second name, locked the same way, for
a file being validated (``pin``). ``data_dir/uploads/tus/<upload id>``: an unfinished tus
upload, kept across restarts (that is the point of tus) until it completes, is terminated
or expires. Names are server-made (random hex, checked against a pattern, and the resolved
path checked to lie inside its directory); nothing a client sends becomes part of a path.
Hard links are needed (any local file system has them).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from ..config import Settings
from ..errors import NotFound

UPLOADS = "uploads"
TMP = "tmp"
TUS = "tus"
_UPLOAD_ID = re.compile(r"[0-9a-f]{32}")
_TMP_NAME = re.compile(r"[0-9a-f]{32}\.(?:part|pin)|\.[0-9a-f]{32}\.new")
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
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


def temp_path(settings: Settings, upload_id: str) -> Path:
    """The temporary file of a multipart upload's body."""
    if not is_upload_id(upload_id):
        raise NotFound("upload", upload_id[:64])
    return _inside(tmp_dir(settings), f"{upload_id}.part")


def pin_path(settings: Settings, upload_id: str) -> Path:
    if not is_upload_id(upload_id):
        raise NotFound("upload", upload_id[:64])
    return _inside(tmp_dir(settings), f"{upload_id}.pin")


@dataclass(frozen=True)
class Temp:
    """A multipart body's file: ``fd`` to write (the ``Sink`` closes it), ``lock`` a
    second descriptor that keeps the ``flock`` until validation is over (``pin``)."""

    fd: int
    lock: int
    path: Path

    def discard(self) -> None:
        """Remove the file and let its lock go (``fd`` is closed by then)."""
        remove(self.path)
        os.close(self.lock)


def open_temp(settings: Settings, upload_id: str) -> Temp:
    """The new, empty, private temporary file of ``upload_id`` (mode 0600), locked with
    ``flock`` until both descriptors are closed (or the process dies). ``FileExistsError``
    when the upload has one already (a second body for the same id)."""
    path = temp_path(settings, upload_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    fresh = _inside(path.parent, f".{secrets.token_hex(16)}.new")  # spared while young...
    fd = os.open(fresh, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.link(fresh, path)  # ...until it is locked; a link never replaces another's file
        try:
            lock = os.dup(fd)
        except BaseException:
            remove(path)
            raise
    except BaseException:
        os.close(fd)
        raise
    finally:
        remove(fresh)
    return Temp(fd, lock, path)


def open_tus(settings: Settings, upload_id: str, *, create: bool = False) -> int:
    """A tus upload's partial file, opened for writing (made empty when ``create``)."""
    path = tus_path(settings, upload_id)
    flags = os.O_WRONLY | _CLOEXEC
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
        if held(entry):
            continue  # a live process is working on it right now
        with contextlib.suppress(FileNotFoundError):
            entry.unlink()
            removed.append(entry.name)
    return removed


def held(path: Path) -> bool:
    """Whether a live process (this one included) holds ``path``'s ``flock``; False when
    there is no such file. (Holders lock a name before it appears, see ``open_temp``.)"""
    try:
        fd = os.open(path, os.O_RDONLY | _CLOEXEC)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as error:
        if error.errno not in (errno.EAGAIN, errno.EACCES):
            raise
        return True
    finally:
        os.close(fd)
    return False


class Pin:
    """``tmp/<upload id>.pin``: a second, ``flock``-ed name for a file being validated.

    ``add_media`` moves the file away before the upload's row leaves ``validating``; the
    pin still names it, locked, until the row says what became of it (``drop``), so no
    other server's recovery takes a live upload for a crash's. A crash leaves it unlocked,
    for the cleaner. ``close`` drops it and lets the lock go.
    """

    def __init__(self, path: Path, fd: int) -> None:
        self.path, self._fd = path, fd

    def drop(self) -> None:
        remove(self.path)

    def close(self) -> None:
        self.drop()
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def pin(settings: Settings, upload_id: str, source: Path, lock: int | None = None) -> Pin:
    """Pin ``source``. ``lock`` is a descriptor that holds its ``flock`` already (given
    over: closed on ``close``, or here on failure); without one, ``source`` is locked here
    (a tus file: nobody else locks it, see ``cleanup``)."""
    fd = lock
    try:
        if fd is None:
            fd = os.open(source, os.O_RDONLY | _CLOEXEC)
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        path = pin_path(settings, upload_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        os.link(source, path)  # never over a live pin: FileExistsError
    except BaseException:
        if fd is not None:
            os.close(fd)
        raise
    return Pin(path, fd)


def remove(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
