"""Lesson 03's server exercise, checked for real: the learner's streaming upload route on a
``BackgroundServer``, driven by httpx and a raw socket.

The exercise: ``make_upload_router(upload_dir, limit)`` returns an ``APIRouter`` with
``POST /practice/upload?filename=...`` that streams the request body to a new file in
``upload_dir`` under a name the server makes, refuses a body over ``limit`` bytes with 413
as soon as it is exceeded (leaving nothing), leaves nothing when the client disconnects,
and answers 201 ``{"name": <the client's name, sanitized>, "size": ..., "sha256": ...}``.
"""

from __future__ import annotations

import hashlib
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse

from ...notebook import BackgroundServer
from ..checks import Check, Hints, Result, describe, run_checks

MakeRouter = Callable[[Path, int], APIRouter]
LIMIT = 4 * 1024 * 1024
WAIT = 10.0
SETTLE = 3.0
"""How long the check waits for what a correct route does at once (a file written, removed):
long enough for a slow machine, short enough that a wrong route fails quickly."""
PATH = "/practice/upload"


class _Practice:
    """The learner's router in an app of its own, on a real server."""

    def __init__(self, make_router: MakeRouter) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="streamverse-03-check-"))
        self.upload_dir = self.folder / "uploads"
        self.upload_dir.mkdir()
        app = FastAPI()
        app.include_router(make_router(self.upload_dir, LIMIT))
        self.unwritten = False

        async def unwritten(request: Request, error: Exception) -> JSONResponse:
            self.unwritten = True
            return JSONResponse({"detail": "not written yet"}, 501)

        app.add_exception_handler(NotImplementedError, unwritten)
        self.server = BackgroundServer(app)
        self.http = httpx.Client(base_url=self.server.url, timeout=WAIT)

    def files(self) -> list[Path]:
        return sorted(path for path in self.upload_dir.rglob("*") if path.is_file())

    def outside(self) -> list[Path]:
        return sorted(
            path
            for path in self.folder.rglob("*")
            if path.is_file() and not path.is_relative_to(self.upload_dir)
        )

    def wait_for(self, condition: Callable[[], bool]) -> bool:
        deadline = time.monotonic() + SETTLE
        while not condition():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)
        return True

    def close(self) -> None:
        self.http.close()
        self.server.stop()

    def written(self, check: Callable[[_Practice], str | None]) -> Callable[[], str | None]:
        """``check``, but "not written yet" once the route has raised NotImplementedError."""

        def run() -> str | None:
            if self.unwritten:
                raise NotImplementedError
            problem = check(self)
            if self.unwritten:
                raise NotImplementedError
            return problem

        return run


def _answer(response: httpx.Response, data: bytes) -> str | None:
    if response.status_code != 201:
        return f"answered {response.status_code} {response.text[:120]!r}, expected 201"
    body = response.json()
    if not isinstance(body, dict):
        return f"answered {body!r}, expected a JSON object"
    if body.get("size") != len(data):
        return f"answered size {body.get('size')!r}, expected {len(data)}"
    if body.get("sha256") != hashlib.sha256(data).hexdigest():
        return "answered a sha256 that is not the body's"
    return None


def check_streaming_upload(make_router: MakeRouter, hints: Hints = "first") -> list[Result]:
    """Check ``make_upload_router``; prints one line per check and never raises."""
    try:
        practice = _Practice(make_router)
    except Exception as error:
        problem = f"the router could not be served: {describe(error)}"
        return run_checks([Check("the route can be served", lambda: problem, _HINTS[0])], hints)
    names = [
        ("stores the body and answers size and sha256", _stores),
        ("writes while the body arrives", _streams),
        ("never lets the client's name near a path", _names),
        ("413 as soon as the limit is passed, nothing left", _too_large),
        ("a client that disconnects leaves nothing", _cut),
    ]
    checks = [
        Check(name, practice.written(run), hint)
        for (name, run), hint in zip(names, _HINTS, strict=True)
    ]
    try:
        return run_checks(checks, hints, all_hints=ALL_HINTS)
    finally:
        practice.close()


ALL_HINTS = 'check_streaming_upload(make_upload_router, hints="all")'
_HINTS = [
    "async for chunk in request.stream(): write each chunk to the file and feed a "
    "hashlib.sha256(); answer {'name': ..., 'size': ..., 'sha256': digest.hexdigest()}",
    "never await request.body() or request.form(): they read the whole body first",
    "make the stored name yourself (uuid.uuid4().hex); keep the client's filename only as "
    "text in the answer, without any '/' or '\\\\' (take the part after the last one)",
    "count the bytes as they arrive; the moment the count passes the limit raise "
    "HTTPException(413, ..., headers={'Connection': 'close'}) (without that header the "
    "server reads, and drops, the rest of the body before the client sees the answer); "
    "delete the file in an except block before re-raising",
    "a disconnect shows up as starlette.requests.ClientDisconnect from request.stream(): "
    "delete the file on any exception (try/except BaseException: unlink; raise)",
]


def _stores(practice: _Practice) -> str | None:
    data = bytes(range(256)) * 4000
    response = practice.http.post(PATH, params={"filename": "clip.mp4"}, content=data)
    problem = _answer(response, data)
    if problem:
        return problem
    files = practice.files()
    if len(files) != 1 or files[0].read_bytes() != data:
        return f"expected one file in upload_dir holding the body, found {len(files)}"
    files[0].unlink()
    return None


def _streams(practice: _Practice) -> str | None:
    first, rest = b"a" * (2 * 1024 * 1024), b"b" * 1024
    written = threading.Event()

    def body() -> Iterator[bytes]:
        yield first
        if practice.wait_for(
            lambda: any(p.stat().st_size >= len(first) // 2 for p in practice.files())
        ):
            written.set()
        yield rest

    response = practice.http.post(PATH, params={"filename": "x.bin"}, content=body())
    problem = _answer(response, first + rest)
    for path in practice.files():
        path.unlink()
    if problem:
        return problem
    if not written.is_set():
        return "nothing reached the file until the whole body had arrived"
    return None


def _names(practice: _Practice) -> str | None:
    evil = "../../escaped.txt"
    response = practice.http.post(PATH, params={"filename": evil}, content=b"hello")
    problem = _answer(response, b"hello")
    outside, files = practice.outside(), practice.files()
    for path in files:
        path.unlink()
    if outside:
        for path in outside:
            path.unlink()
        return f"a file was written outside upload_dir: {outside[0].name}"
    if problem:
        return problem
    name = response.json().get("name")
    if not isinstance(name, str) or "/" in name or "\\" in name or name.startswith(".."):
        return f"answered name {name!r}: a client's path, not a sanitized name"
    if any(path.name == "escaped.txt" for path in files):
        return "the stored file is named after the client's filename"
    return None


def _too_large(practice: _Practice) -> str | None:
    sent = [0]
    total = 20 * LIMIT

    def body() -> Iterator[bytes]:
        block = b"z" * 65536
        while sent[0] < total:
            yield block
            sent[0] += len(block)

    try:
        response = practice.http.post(PATH, params={"filename": "big.bin"}, content=body())
        status: Any = response.status_code
    except httpx.HTTPError as error:
        status = f"no answer ({type(error).__name__})"
    if status != 413:
        return f"a body of {total} bytes got {status}, expected 413"
    if sent[0] >= total:
        return "the 413 came only after the whole body had been read"
    if not practice.wait_for(lambda: not practice.files()):
        return "a partial file was left in upload_dir"
    return None


def _cut(practice: _Practice) -> str | None:
    head = (
        f"POST {PATH}?filename=cut.bin HTTP/1.1\r\nHost: check\r\n"
        f"Content-Length: {LIMIT // 2}\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", practice.server.port or 0), timeout=WAIT) as raw:
        raw.sendall(head + b"c" * (LIMIT // 8))
        if not practice.wait_for(lambda: bool(practice.files())):
            return "no file appeared while the body was arriving"
    if not practice.wait_for(lambda: not practice.files()):
        return "the partial file of a client that went away is still there"
    return None
