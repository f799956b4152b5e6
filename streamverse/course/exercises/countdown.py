"""Lesson 01, server side: a streaming NDJSON route that ends with an end line and cleans
up when the client leaves.

The exercise: ``make_countdown_app(tracker)`` returns a FastAPI app with
``GET /countdown?start=3&interval=0.01`` streaming one JSON object per line,
``{"type": "tick", "n": 3}``, ``2``, ``1`` (``interval`` seconds apart), then
``{"type": "end"}``, after which the body ends. The generator runs inside
``with tracker.streaming():`` so the check can see it start and stop. The check serves the
app on a background server, reads it with httpx, and disconnects mid-stream.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx

from ..checks import Check, Hints, Result, run_checks
from .platform import WAIT, App

MEDIA_TYPES = ("application/x-ndjson", "application/jsonl")


class Refused(Exception):
    """The learner's route did not answer 200: every check says so, in its words."""


class Tracker:
    """Counts the countdowns streaming right now (the learner's generator enters it)."""

    def __init__(self) -> None:
        self.active = 0
        self.started = 0

    @contextlib.contextmanager
    def streaming(self) -> Iterator[None]:
        self.active += 1
        self.started += 1
        try:
            yield
        finally:
            self.active -= 1

    def wait(self, condition: Callable[[], bool], within: float = WAIT) -> bool:
        deadline = time.monotonic() + within
        while not condition():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True


def _lines(response: httpx.Response) -> list[Any]:
    return [json.loads(line) for line in response.iter_lines() if line]


def _first(response: httpx.Response, count: int) -> list[Any] | str:
    """The first ``count`` lines, parsed; or what went wrong, in words."""
    if response.status_code != 200:
        raise Refused(f"GET /countdown answered {response.status_code}")
    lines = response.iter_lines()  # kept: a dropped half-read iterator closes the response
    got = []
    for line in lines:
        if line:
            got.append(json.loads(line))
        if len(got) == count:
            response.extensions["kept"] = lines
            return got
    return f"the body ended after {len(got)} lines"


def check_countdown(make_app: Callable[[Tracker], Any], hints: Hints = "first") -> list[Result]:
    """Check ``make_countdown_app``; prints one line per check and returns the results."""
    tracker = Tracker()
    served = App(None)
    state: dict[str, Any] = {}

    def countdown(**params: Any) -> tuple[httpx.Response, list[Any]]:
        """The response and its lines; ``Refused`` when it is not a 200."""
        with served.http.stream("GET", "/countdown", params=params) as response:
            if response.status_code != 200:
                raise Refused(
                    f"GET /countdown answered {response.status_code} ({served.failure()})"
                )
            return response, _lines(response)

    def ticks() -> str | None:
        served.app = make_app(tracker)
        state["ran"] = True
        _, lines = countdown(start=3)
        expected = [{"type": "tick", "n": n} for n in (3, 2, 1)]
        if lines[:3] != expected:
            return f"the first lines were {lines[:3]!r}, expected {expected!r}"
        return None

    def media_type() -> str | None:
        response, _ = countdown(start=1)
        kind = response.headers.get("content-type", "")
        if not kind.startswith(MEDIA_TYPES):
            return f"its Content-Type is {kind!r}, expected application/x-ndjson"
        return None

    def end_line() -> str | None:
        _, lines = countdown(start=2)
        if not lines or lines[-1] != {"type": "end"}:
            return f"its last line was {lines[-1:]!r}, expected {{'type': 'end'}}"
        if lines.count({"type": "end"}) != 1:
            return f"it sent the end line {lines.count({'type': 'end'})} times"
        return None

    def zero() -> str | None:
        _, lines = countdown(start=0)
        return None if lines == [{"type": "end"}] else f"start=0 gave {lines!r}, expected [end]"

    def streams_as_it_goes() -> str | None:
        params = {"start": 1000, "interval": 0.02}
        with served.http.stream("GET", "/countdown", params=params) as response:
            first = _first(response, 1)
            running = tracker.active
        if isinstance(first, str):
            return first
        if first != [{"type": "tick", "n": 1000}]:
            return f"the first line was {first[0]!r}, expected {{'type': 'tick', 'n': 1000}}"
        if running != 1:
            return (
                f"while the first line was being read, {running} countdowns were inside "
                "tracker.streaming(), expected 1"
            )
        return None

    def cleans_up() -> str | None:
        params = {"start": 1_000_000, "interval": 0.01}
        with served.http.stream("GET", "/countdown", params=params) as response:
            if isinstance(first := _first(response, 2), str):
                return first
            if not tracker.wait(lambda: tracker.active == 1, 2.0):
                return "it was not inside tracker.streaming() while it streamed"
        if not tracker.wait(lambda: tracker.active == 0, 5.0):
            return (
                "it was still streaming 5 s after the client disconnected (a million ticks "
                "for nobody)"
            )
        return None

    def needs_app(step: Callable[[], str | None], first: bool = False) -> Callable[[], str | None]:
        def run() -> str | None:
            if not first and "ran" not in state:
                return "skipped: the app was not built"
            try:
                return step()
            except Refused as refused:
                return str(refused)

        return run

    checks = [
        Check(
            "ticks count down, one JSON object per line",
            needs_app(ticks, first=True),
            "inside lines(), loop from start down to 1 and yield one JSON text per tick, "
            "each ending with a newline; wait `interval` seconds between ticks",
        ),
        Check(
            "labelled as NDJSON",
            needs_app(media_type),
            "StreamingResponse(lines(), media_type='application/x-ndjson')",
        ),
        Check(
            "one end line, last",
            needs_app(end_line),
            "after the loop, yield json.dumps({'type': 'end'}) + '\\n': the client then knows "
            "the feed is over, and did not just lose its connection",
        ),
        Check(
            "start=0 sends only the end line",
            needs_app(zero),
            "range(start, 0, -1) is empty for start=0; the end line still comes",
        ),
        Check(
            "streams as it goes",
            needs_app(streams_as_it_goes),
            "a generator, not a list: yield each line as it is made, inside "
            "`with tracker.streaming():`",
        ),
        Check(
            "cleans up when the client disconnects",
            needs_app(cleans_up),
            "keep the loop inside `with tracker.streaming():` (it exits however the generator "
            "ends) and await between ticks, so the disconnect can land",
        ),
    ]
    try:
        return run_checks(
            checks, hints, all_hints='check_countdown(make_countdown_app, hints="all")'
        )
    finally:
        with contextlib.suppress(Exception):
            served.close()
