"""Lesson 08, server side: a streaming request body counted line by line, whatever its chunks.

The exercise: ``make_level_counter_app()`` returns a FastAPI app with ``POST /count-levels``
that reads the raw body with ``request.stream()`` and answers JSON counts by level,
``{"ERROR": n, "WARNING": n, "INFO": n, "other": n}``. A line's level is its first word
(``ERROR``, ``WARNING`` or ``INFO``; anything else, or nothing, is ``other``). Lines end
with ``\\n`` or ``\\r\\n``; the last one may have no newline; a final newline does not start
another line; invalid UTF-8 is replaced (U+FFFD), never an error.

The check serves the app on a ``BackgroundServer`` and sends real bodies with httpx, in
chosen chunk sizes: 1 byte, 7 bytes, a cut inside a ``\\r\\n`` and inside a multi-byte
character. TCP is free to glue the client's chunks together on the way, so between the
server and the app a small ASGI wrapper (``Rechunk``) cuts the body again at exactly the
offsets the check asked for (``x-check-cuts``): the app sees those chunks, every run. A
last check sends 16 MiB and watches the process's allocations (``tracemalloc``): a route
that reads the whole body first (``await request.body()``) holds all of it at once.
"""

from __future__ import annotations

import contextlib
import tracemalloc
from collections.abc import Callable, Iterator
from typing import Any

import httpx
from fastapi import Request
from fastapi.responses import JSONResponse

from ..checks import Check, Hints, Result, run_checks
from .platform import App

PATH = "/count-levels"
LEVELS = ("ERROR", "WARNING", "INFO", "other")
BIG = 16 * 1024 * 1024
"""The body of the memory check; a route that streams holds a small part of it at once."""

LOG = (
    b"ERROR disk full on /var\n"
    b"INFO user ada signed in\n"
    b"WARNING slow query took 2.1 s\n"
    b"INFO user grace signed in\n"
    b"DEBUG cache miss for key 42\n"
    b"ERROR connection refused by db\n"
    b"no level on this line\n"
    b"INFO done\n"
)
LOG_COUNTS = {"ERROR": 2, "WARNING": 1, "INFO": 3, "other": 2}

CRLF = b"INFO started\r\nERROR\r\nWARNING\r\nINFO stopped\r\n"
CRLF_COUNTS = {"ERROR": 1, "WARNING": 1, "INFO": 2, "other": 0}

NO_NEWLINE = b"INFO one\nWARNING two\nERROR the last line, no newline"
NO_NEWLINE_COUNTS = {"ERROR": 1, "WARNING": 1, "INFO": 1, "other": 0}

UTF8 = "INFO café ✓\nERROR naïve\nINFO 日本\n".encode()
INVALID = b"ERROR bad byte \xff here\nINFO \xc3\x28 broken pair\nWARNING ok\nINFO cut \xe2\x82"
INVALID_COUNTS = {"ERROR": 1, "WARNING": 1, "INFO": 2, "other": 0}


class Rechunk:
    """ASGI wrapper: the request body reaches the app cut at the offsets listed in the
    request's ``x-check-cuts`` header (comma-separated), or every N bytes (``every:N``),
    whatever pieces TCP delivered. Without the header the body passes as it came."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        spec = (
            dict(scope.get("headers", [])).get(b"x-check-cuts") if scope["type"] == "http" else None
        )
        if not spec:
            await self.app(scope, receive, send)
            return
        boundaries = _boundaries(spec.decode())
        pending, more, offset, done = b"", True, 0, False

        async def chunked() -> Any:
            nonlocal pending, more, offset, done
            if done:
                return await receive()
            while not pending and more:
                message = await receive()
                if message["type"] != "http.request":
                    return message
                pending += message.get("body", b"")
                more = message.get("more_body", False)
            cut = boundaries(offset)
            take = len(pending) if cut is None else cut - offset
            piece, pending = pending[:take], pending[take:]
            offset += len(piece)
            done = not pending and not more
            return {"type": "http.request", "body": piece, "more_body": not done}

        await self.app(scope, chunked, send)


def _boundaries(spec: str) -> Callable[[int], int | None]:
    """The next cut after ``offset`` (None: no more cuts)."""
    if spec.startswith("every:"):
        size = max(1, int(spec.removeprefix("every:")))
        return lambda offset: (offset // size + 1) * size
    cuts = sorted(int(cut) for cut in spec.split(",") if cut.strip())
    return lambda offset: next((cut for cut in cuts if cut > offset), None)


def pieces(data: bytes, cuts: list[int]) -> Iterator[bytes]:
    """``data`` cut at ``cuts`` (the client sends these pieces one by one)."""
    start = 0
    for end in [*cuts, len(data)]:
        if end > start:
            yield data[start:end]
            start = end


class _Counter:
    """The learner's app on a background server, behind ``Rechunk``."""

    def __init__(self, make_app: Callable[[], Any]) -> None:
        self.make_app = make_app
        self.served = App(None)
        self.built: BaseException | None = None
        self.unwritten = False

    def build(self) -> None:
        if self.served.app is None and self.built is None:
            try:
                app = self.make_app()
            except BaseException as error:
                self.built = error
                raise
            if app is None:
                self.built = NotImplementedError()
                raise self.built
            if hasattr(app, "add_exception_handler"):
                app.add_exception_handler(NotImplementedError, self._unwritten)
            self.served.app = Rechunk(app)
        if self.built is not None:
            raise self.built

    async def _unwritten(self, request: Request, error: Exception) -> JSONResponse:
        self.unwritten = True
        return JSONResponse({"detail": "not written yet"}, 501)

    def post(self, data: bytes, cuts: list[int] | None = None, every: int = 0) -> httpx.Response:
        self.build()
        if every:
            cuts = list(range(every, len(data), every))
            spec = f"every:{every}"
        else:
            cuts = cuts or []
            spec = ",".join(map(str, cuts)) or "0"
        headers = {"x-check-cuts": spec, "content-type": "text/plain"}
        return self.served.http.post(PATH, content=pieces(data, cuts), headers=headers)

    def counts(
        self, what: str, data: bytes, expected: dict[str, int], **cutting: Any
    ) -> str | None:
        response = self.post(data, **cutting)
        if self.unwritten:
            raise NotImplementedError
        if response.status_code != 200:
            crashed = (
                f" (the server logged: {self.served.failure()})"
                if response.status_code == 500
                else ""
            )
            return f"{what} answered {response.status_code}, expected 200{crashed}"
        try:
            got = response.json()
        except ValueError:
            return f"{what} answered {response.text[:80]!r}, not JSON"
        if got != expected:
            return f"{what} answered {got}, expected {expected}"
        return None

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.served.close()


def check_level_counter(make_app: Callable[[], Any], hints: Hints = "first") -> list[Result]:
    """Check ``make_level_counter_app``; prints one line per check, returns the results."""
    counter = _Counter(make_app)

    def whole() -> str | None:
        return counter.counts("a small log in one chunk", LOG, LOG_COUNTS)

    def boundaries() -> str | None:
        for every in (7, 1, 5):
            problem = counter.counts(
                f"the log in {every}-byte chunks", LOG, LOG_COUNTS, every=every
            )
            if problem:
                return problem
        return None

    def crlf() -> str | None:
        cut = [CRLF.index(b"\r\n") + 1, CRLF.index(b"ERROR") + 5]  # inside \r\n, before \r
        problem = counter.counts("a CRLF log in one chunk", CRLF, CRLF_COUNTS)
        return problem or counter.counts(
            "a CRLF log cut inside a \\r\\n", CRLF, CRLF_COUNTS, cuts=cut
        )

    def last_line() -> str | None:
        problem = counter.counts(
            "a log whose last line has no newline", NO_NEWLINE, NO_NEWLINE_COUNTS
        )
        return problem or counter.counts(
            "the same in 4-byte chunks", NO_NEWLINE, NO_NEWLINE_COUNTS, every=4
        )

    def characters() -> str | None:
        expected = {"ERROR": 1, "WARNING": 0, "INFO": 2, "other": 0}
        inside = [UTF8.index("é".encode()) + 1, UTF8.index("✓".encode()) + 2]
        problem = counter.counts("UTF-8 cut inside a character", UTF8, expected, cuts=inside)
        if problem:
            return problem
        problem = counter.counts("invalid UTF-8", INVALID, INVALID_COUNTS)
        return problem or counter.counts(
            "invalid UTF-8 in 1-byte chunks", INVALID, INVALID_COUNTS, every=1
        )

    def memory() -> str | None:
        line = b"INFO " + b"x" * 94 + b"\n"  # 100 bytes
        body = line * (BIG // len(line))
        expected = {"ERROR": 0, "WARNING": 0, "INFO": len(body) // len(line), "other": 0}
        counter.build()
        counter.served.http  # noqa: B018  (start the server before measuring)
        was_tracing = tracemalloc.is_tracing()
        if not was_tracing:
            tracemalloc.start()
        tracemalloc.reset_peak()
        try:
            response = counter.served.http.post(
                PATH, content=pieces(body, list(range(65536, len(body), 65536)))
            )
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            if not was_tracing:
                tracemalloc.stop()
        if counter.unwritten:
            raise NotImplementedError
        if response.status_code != 200:
            return f"a {BIG >> 20} MiB log answered {response.status_code}, expected 200"
        if response.json() != expected:
            return f"a {BIG >> 20} MiB log answered {response.json()}, expected {expected}"
        if peak >= len(body) // 2:
            return (
                f"while counting a {BIG >> 20} MiB log the process held at least "
                f"{peak * 100 // len(body)}% of it in memory at once"
            )
        return None

    checks = [
        Check("counts a small log", whole, _HINTS[0]),
        Check("a line cut across chunks is counted once", boundaries, _HINTS[1]),
        Check("CRLF line endings", crlf, _HINTS[2]),
        Check("the last line without a newline", last_line, _HINTS[3]),
        Check("split and invalid UTF-8", characters, _HINTS[4]),
        Check("memory stays small for a 16 MiB log", memory, _HINTS[5]),
    ]
    try:
        return run_checks(checks, hints, all_hints=ALL_HINTS)
    finally:
        counter.close()


ALL_HINTS = 'check_level_counter(make_level_counter_app, hints="all")'
_HINTS = [
    "async for chunk in request.stream(): ...; a line's level is its first word "
    "(line.split(maxsplit=1)); answer a dict with the four keys ERROR, WARNING, INFO, other; "
    "a final newline does not start another line",
    "a chunk is not a line: keep the text after the chunk's last newline and put it in "
    "front of the next chunk (rest = rest + text; *lines, rest = rest.split('\\n'))",
    "a line ending in \\r\\n leaves a '\\r' at the end of the line: strip it, or take the "
    "first word with line.split() (which treats '\\r' as whitespace)",
    "after the loop, what is left over (the rest) is the last line when it is not empty",
    "decode with codecs.getincrementaldecoder('utf-8')(errors='replace'): it keeps the "
    "start of a character cut by a chunk until the next chunk, and replaces invalid bytes; "
    "call decoder.decode(b'', final=True) at the end",
    "never await request.body(): count each chunk as it arrives and keep only the unfinished line",
]
