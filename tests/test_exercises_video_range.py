"""Lesson 06's server-side check: media served with HTTP Range, nothing outside media_dir.

The reference passes every check; each wrong app fails the check that should catch it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from fastapi import APIRouter, FastAPI, HTTPException, Request, Response
from fastapi.responses import FileResponse, PlainTextResponse

from streamverse.course.exercises.video_range import check_clip_app

pytestmark = pytest.mark.slow

TYPES = {".mp4": "video/mp4", ".webm": "video/webm", ".mp3": "audio/mpeg"}


def failing(results: list[Any]) -> dict[str, str | None]:
    return {result.name: result.problem for result in results if not result.passed}


def guarded(media_dir: Path, name: str, variant: str) -> Path:
    path = media_dir / name
    if variant == "no-guard":
        return path
    if variant == "prefix-guard":
        inside = str(path.resolve()).startswith(str(media_dir.resolve()))
    else:
        inside = path.resolve().is_relative_to(media_dir.resolve())
    if not inside:
        raise HTTPException(404, f"no clip {name!r}")
    return path


def by_hand(path: Path, header: str | None, variant: str) -> Response:
    """A hand-written single-range answer, with the variant's mistake."""
    data, kind = path.read_bytes(), TYPES[path.suffix]
    match = re.fullmatch(r"bytes=(\d*)-(\d*)", header or "")
    if match is None:
        return Response(data, media_type=kind, headers={"Accept-Ranges": "bytes"})
    first, last = match.groups()
    if first:
        start, end = int(first), min(int(last or len(data) - 1), len(data) - 1)
    else:
        start, end = max(len(data) - int(last), 0), len(data) - 1
    if start >= len(data):
        headers = {} if variant == "416-no-size" else {"Content-Range": f"bytes */{len(data)}"}
        return Response(status_code=416, headers=headers)
    stop = end if variant == "off-by-one" else end + 1
    headers = {"Accept-Ranges": "bytes", "Content-Range": f"bytes {start}-{end}/{len(data)}"}
    return Response(data[start:stop], status_code=206, media_type=kind, headers=headers)


def clip_app(variant: str = "right") -> Any:
    def make(media_dir: Path) -> FastAPI:
        app = FastAPI()
        route = "/clips/{name:path}" if variant == "path-param" else "/clips/{name}"
        guard = "no-guard" if variant in ("path-param", "no-guard") else variant

        @app.get(route)
        async def clip(name: str, request: Request) -> Response:
            path = guarded(media_dir, name, guard)
            if not path.is_file():
                if variant == "html-404":
                    return PlainTextResponse("<h1>Not here</h1>", 404, media_type="text/html")
                raise HTTPException(404, f"no clip {name!r}")
            if variant == "ignores-range":
                return Response(path.read_bytes(), media_type=TYPES[path.suffix])
            if variant in ("off-by-one", "416-no-size", "by-hand-right"):
                return by_hand(path, request.headers.get("range"), variant)
            kind = "application/octet-stream" if variant == "octet-stream" else None
            return FileResponse(path, media_type=kind or TYPES.get(path.suffix))

        return app

    return make


def test_the_reference_passes(capsys: pytest.CaptureFixture[str]) -> None:
    assert failing(check_clip_app(clip_app())) == {}
    assert "9 of 9 checks pass" in capsys.readouterr().out


def test_the_hand_written_range_passes_when_right() -> None:
    assert failing(check_clip_app(clip_app("by-hand-right"))) == {}


@pytest.mark.parametrize(
    ("variant", "fails"),
    [
        ("ignores-range", "a range in the middle: 206 with exactly those bytes"),
        ("off-by-one", "a range in the middle: 206 with exactly those bytes"),
        ("416-no-size", "a range past the end: 416 with Content-Range: bytes */size"),
        ("octet-stream", "each file's media type"),
        ("html-404", "an unknown clip: 404 in JSON"),
        ("path-param", "no way out of media_dir by the path (../, %2e%2e%2f, absolute)"),
        ("no-guard", "no way out of media_dir by a symlink"),
        ("prefix-guard", "no way out of media_dir by a symlink"),
    ],
)
def test_a_wrong_app_fails(variant: str, fails: str) -> None:
    assert fails in failing(check_clip_app(clip_app(variant)))


def test_an_unwritten_exercise_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    def make(media_dir: Path) -> FastAPI:
        app = FastAPI()

        @app.get("/clips/{name}")
        async def clip(name: str) -> Response:
            raise NotImplementedError

        return app

    problems = set(failing(check_clip_app(make)).values())
    assert problems == {"not written yet (it raises NotImplementedError)"}
    assert "0 of 9 checks pass" in capsys.readouterr().out


def test_a_factory_that_raises_fails_every_check_without_raising() -> None:
    def make(media_dir: Path) -> FastAPI:
        raise NotImplementedError

    results = check_clip_app(make, hints="none")
    assert len(failing(results)) == len(results) == 9


@pytest.mark.parametrize("made", [None, APIRouter()], ids=["none", "a-router"])
def test_a_factory_that_returns_no_app_says_what_it_returned(made: Any) -> None:
    results = check_clip_app(lambda media_dir: made, hints="none")
    problems = set(failing(results).values())
    assert len(problems) == 1 and len(failing(results)) == 9
    expected = "None" if made is None else "an APIRouter"
    problem = problems.pop()
    assert problem and f"make_clip_app returned {expected}, expected a FastAPI app" in problem
