"""Lesson 06, server side: media files served with HTTP Range, and nothing else served.

The exercise: ``make_clip_app(media_dir)`` returns a FastAPI app with ``GET /clips/{name}``
serving ``media_dir / name``: the whole file (200, ``Accept-Ranges: bytes``), any single
range (206 with ``Content-Range``; suffix and open-ended ranges too), 416 with
``Content-Range: bytes */<size>`` for a range past the end, the media type of its
extension (``.mp4``, ``.webm``, ``.mp3``), a JSON 404 ``{"detail": ...}`` for an unknown
clip, and never a byte of a file outside ``media_dir`` (encoded ``../``, absolute paths,
symlinks that point out, a sibling folder whose name starts the same). The check writes
synthetic clips and a secret file next to them, serves the learner's app on a background
server and sends real requests; every answer is compared with the file on disk.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
from fastapi import Request
from fastapi.responses import JSONResponse
from starlette.applications import Starlette

from ...videos.synthetic import write_media
from ..checks import Check, Hints, Result, run_checks
from .platform import App

TYPES = {"clip.mp4": "video/mp4", "clip.webm": "video/webm", "song.mp3": "audio/mpeg"}
SECRET = b"SECRET: a file outside media_dir, never to be served\n" * 40


class _Clips:
    """The check's files, the learner's app on a background server, and what it did."""

    def __init__(self, make_app: Callable[[Path], Any]) -> None:
        self.make_app = make_app
        self.root = Path(tempfile.mkdtemp(prefix="streamverse-check-clips-"))
        self.media = self.root / "media"
        self.media.mkdir()
        write_media(self.media / "clip.mp4", 1.0)
        write_media(self.media / "clip.webm", 0.5)
        write_media(self.media / "song.mp3", 0.5)
        self.secret = self.root / "secret.mp4"
        self.secret.write_bytes(SECRET)
        private = self.root / "media-private"  # starts like "media": a prefix test passes it
        private.mkdir()
        (private / "x.mp4").write_bytes(SECRET)
        (self.media / "escape.mp4").symlink_to(self.secret)
        (self.media / "sneaky.mp4").symlink_to(Path("..") / "media-private" / "x.mp4")
        self.data = (self.media / "clip.mp4").read_bytes()
        self.served = App(None)
        self.built: BaseException | None = None
        self.unwritten = False

    def build(self) -> None:
        """Make the learner's app once; every check re-raises what making it raised."""
        if self.served.app is None and self.built is None:
            try:
                app = self.make_app(self.media)
                if not isinstance(app, Starlette):
                    raise TypeError(
                        f"make_clip_app returned {_kind(app)}, expected a FastAPI app "
                        "(app = FastAPI(), then @app.get(...), then return app)"
                    )
            except BaseException as error:
                self.built = error
                raise
            if hasattr(app, "add_exception_handler"):
                app.add_exception_handler(NotImplementedError, self._unwritten)
            self.served.app = app
        if self.built is not None:
            raise self.built

    async def _unwritten(self, request: Request, error: Exception) -> JSONResponse:
        self.unwritten = True
        return JSONResponse({"detail": "not written yet"}, 501)

    def get(self, path: str, **headers: str) -> httpx.Response:
        self.build()
        return self.served.http.get(path, headers=headers)

    def crashed(self, response: httpx.Response) -> str:
        return (
            f" (the server logged: {self.served.failure()})" if response.status_code == 500 else ""
        )

    def written(self, step: Callable[[], str | None]) -> Callable[[], str | None]:
        def run() -> str | None:
            problem = step()
            if self.unwritten:
                raise NotImplementedError
            return problem

        return run

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.served.close()
        shutil.rmtree(self.root, ignore_errors=True)


def _kind(value: object) -> str:
    if value is None:
        return "None"
    name = type(value).__name__
    return f"{'an' if name[0] in 'AEIOUaeiou' else 'a'} {name}"


def check_clip_app(make_app: Callable[[Path], Any], hints: Hints = "first") -> list[Result]:
    """Check ``make_clip_app``; prints one line per check and returns the results."""
    clips = _Clips(make_app)
    data, size = clips.data, len(clips.data)

    def ranged(header: str, first: int, last: int) -> str | None:
        response = clips.get("/clips/clip.mp4", Range=header)
        if response.status_code != 206:
            return (
                f"Range: {header} answered {response.status_code} with "
                f"{len(response.content)} bytes, expected 206{clips.crashed(response)}"
            )
        expected = f"bytes {first}-{last}/{size}"
        got = response.headers.get("content-range")
        if got != expected:
            return f"Range: {header} came with Content-Range {got!r}, expected {expected!r}"
        if response.content != data[first : last + 1]:
            return (
                f"Range: {header} sent {len(response.content)} bytes that are not bytes "
                f"{first} to {last} of the file ({last - first + 1} bytes)"
            )
        return None

    def whole() -> str | None:
        response = clips.get("/clips/clip.mp4")
        if response.status_code != 200:
            return f"GET /clips/clip.mp4 answered {response.status_code}{clips.crashed(response)}"
        if response.content != data:
            return f"it sent {len(response.content)} bytes that are not the file's {size}"
        accept = response.headers.get("accept-ranges")
        return None if accept == "bytes" else f"Accept-Ranges is {accept!r}, expected 'bytes'"

    def unsatisfiable() -> str | None:
        response = clips.get("/clips/clip.mp4", Range=f"bytes={size}-")
        if response.status_code != 416:
            return (
                f"Range: bytes={size}- (the size) answered {response.status_code}, "
                f"expected 416{clips.crashed(response)}"
            )
        got = response.headers.get("content-range")
        expected = f"bytes */{size}"
        return None if got == expected else f"its Content-Range is {got!r}, expected {expected!r}"

    def media_types() -> str | None:
        for name, expected in TYPES.items():
            response = clips.get(f"/clips/{name}")
            kind = response.headers.get("content-type", "").split(";")[0].strip()
            if response.status_code != 200 or kind != expected:
                return f"{name} answered {response.status_code} as {kind!r}, expected {expected!r}"
        return None

    def unknown() -> str | None:
        response = clips.get("/clips/nope.mp4")
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code == 404 and isinstance(body, dict) and "detail" in body:
            return None
        return (
            f"an unknown clip answered {response.status_code} "
            f"{response.text[:80]!r}, expected 404 {{'detail': ...}}{clips.crashed(response)}"
        )

    def refuses(paths: list[str]) -> str | None:
        for path in paths:
            response = clips.get(path)
            if SECRET[:40] in response.content:
                return f"GET {path} sent the secret file outside media_dir"
            if response.status_code not in (400, 403, 404):
                code = response.status_code
                return f"GET {path} answered {code}, expected 404 (or 400){clips.crashed(response)}"
        return None

    absolute = "%2F" + quote(str(clips.secret).lstrip("/"), safe="")
    traversal = [
        "/clips/..%2Fsecret.mp4",
        "/clips/%2e%2e%2fsecret.mp4",
        "/clips/%2e%2e",
        f"/clips/{absolute}",
        "/clips/..%2Fmedia-private%2Fx.mp4",
    ]
    checks = [
        Check(
            "the whole clip: 200 with Accept-Ranges: bytes",
            whole,
            "return FileResponse(path, media_type=...): it sends the file with "
            "Accept-Ranges: bytes and answers Range headers for you",
        ),
        Check(
            "a range in the middle: 206 with exactly those bytes",
            lambda: ranged("bytes=1000-1999", 1000, 1999),
            "a Range end is inclusive: bytes=1000-1999 is the 1000 bytes data[1000:2000], with "
            "Content-Range: bytes 1000-1999/<size> (FileResponse does this right)",
        ),
        Check(
            "a suffix range: the last 500 bytes",
            lambda: ranged("bytes=-500", size - 500, size - 1),
            "bytes=-500 means the last 500 bytes of the file, not bytes 0 to 500",
        ),
        Check(
            "an open-ended range: from a byte to the end",
            lambda: ranged(f"bytes={size - 300}-", size - 300, size - 1),
            "bytes=N- means from byte N to the last byte of the file",
        ),
        Check(
            "a range past the end: 416 with Content-Range: bytes */size",
            unsatisfiable,
            "a range that starts at or past the end is 416 Range Not Satisfiable with "
            "Content-Range: bytes */<size>, so that the client learns the size",
        ),
        Check(
            "each file's media type",
            media_types,
            "pick the type from the extension ({'.mp4': 'video/mp4', '.webm': 'video/webm', "
            "'.mp3': 'audio/mpeg'}) and pass it as FileResponse(..., media_type=...)",
        ),
        Check(
            "an unknown clip: 404 in JSON",
            unknown,
            "test path.is_file() first and raise HTTPException(404, ...): FastAPI answers it "
            'as {"detail": ...} in JSON (FileResponse of a missing file is a 500)',
        ),
        Check(
            "no way out of media_dir by the path (../, %2e%2e%2f, absolute)",
            lambda: refuses(traversal),
            "declare the parameter as {name} (not {name:path}), and refuse a path unless "
            "path.resolve().is_relative_to(media_dir.resolve())",
        ),
        Check(
            "no way out of media_dir by a symlink",
            lambda: refuses(["/clips/escape.mp4", "/clips/sneaky.mp4"]),
            "resolve() follows symlinks: compare path.resolve() with media_dir.resolve() with "
            "is_relative_to (str.startswith lets media-private/ pass for media/)",
        ),
    ]
    checks = [Check(check.name, clips.written(check.run), check.hint) for check in checks]
    try:
        return run_checks(checks, hints, all_hints='check_clip_app(make_clip_app, hints="all")')
    finally:
        clips.close()
