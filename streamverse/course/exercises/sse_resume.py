"""Lesson 02, server side: a ``fastapi.sse`` route that resumes from ``Last-Event-ID``.

The exercise: ``make_ticker_app(history)`` returns a FastAPI app with ``GET /ticks``
(``response_class=EventSourceResponse``) that sends ``history[i]`` as an event of type
``tick`` with id ``i + 1``: every event after the client's ``Last-Event-ID`` (all of them
without one), and, for an id it cannot place (above the newest), one ``reset`` event with
data ``{"newest": len(history)}`` first, then everything. The check serves it on a
background server and reads it with the course's spec parser, as a browser would.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import httpx

from ..checks import Check, Hints, Result, run_checks
from ..sse_spec import SSEEvent, SSEParser
from .platform import App


class Broke(Exception):
    """The learner's stream ended with an error instead of a clean end."""


HISTORY = [{"n": n, "square": n * n} for n in range(1, 6)]


def check_resumable_ticks(
    make_app: Callable[[list[dict[str, int]]], Any], hints: Hints = "first"
) -> list[Result]:
    """Check ``make_ticker_app``; prints one line per check and returns the results."""
    served = App(None)
    state: dict[str, bool] = {}

    def read(last_event_id: str | None = None) -> tuple[int, str, list[SSEEvent]]:
        headers = {} if last_event_id is None else {"Last-Event-ID": last_event_id}
        with served.http.stream("GET", "/ticks", headers=headers) as response:
            parser = SSEParser()
            events = []
            if response.status_code == 200:
                try:
                    for chunk in response.iter_text():
                        events += parser.feed(chunk)
                except httpx.HTTPError as error:
                    raise Broke(f"the stream broke off ({served.failure()})") from error
            kind = response.headers.get("content-type", "")
            return response.status_code, kind, events

    def as_ticks(events: list[SSEEvent]) -> list[tuple[str, str, Any]]:
        return [(event.type, event.last_event_id, event.json()) for event in events]

    def expected(after: int) -> list[tuple[str, str, Any]]:
        return [("tick", str(i + 1), data) for i, data in enumerate(HISTORY) if i + 1 > after]

    def compare(got: list[SSEEvent], want: list[tuple[str, str, Any]], when: str) -> str | None:
        try:
            read_back = as_ticks(got)
        except ValueError:
            return f"{when}, an event's data is not JSON: {[e.data for e in got]!r}"
        if read_back == want:
            return None
        return f"{when}, a client read {read_back!r}, expected {want!r}"

    def fresh() -> str | None:
        served.app = make_app(list(HISTORY))
        state["ran"] = True
        status, kind, events = read()
        if status != 200:
            return f"GET /ticks answered {status} ({served.failure()})"
        if not kind.startswith("text/event-stream"):
            return f"its Content-Type is {kind!r}, expected text/event-stream"
        return compare(events, expected(0), "without Last-Event-ID")

    def resumes() -> str | None:
        return compare(read("2")[2], expected(2), "with Last-Event-ID: 2")

    def at_newest() -> str | None:
        return compare(read(str(len(HISTORY)))[2], [], f"with Last-Event-ID: {len(HISTORY)}")

    def from_zero() -> str | None:
        return compare(read("0")[2], expected(0), "with Last-Event-ID: 0")

    def unknown() -> str | None:
        status, _, events = read("99")
        if status != 200:
            return f"with Last-Event-ID: 99 it answered {status}, expected a stream"
        want = [("reset", "", {"newest": len(HISTORY)}), *expected(0)]
        got = [(event.type, event.last_event_id, event.json()) for event in events]
        if got[:1] and got[0][0] == "reset":
            got[0] = (got[0][0], "", got[0][2])  # the reset's id is the learner's choice
        return (
            None
            if got == want
            else f"with Last-Event-ID: 99, a client read {got!r}, expected {want!r}"
        )

    def malformed() -> str | None:
        status, _, _ = read("yesterday")
        return None if status == 422 else f"Last-Event-ID: yesterday got {status}, expected 422"

    def needs_app(step: Callable[[], str | None], first: bool = False) -> Callable[[], str | None]:
        def run() -> str | None:
            if not first and "ran" not in state:
                return "skipped: the app was not built"
            try:
                return step()
            except Broke as broke:
                return str(broke)

        return run

    checks = [
        Check(
            "a fresh client gets every event, with ids",
            needs_app(fresh, first=True),
            "yield one ServerSentEvent per item of history, with event='tick' and an id: "
            "the item's position counted from 1, as a string",
        ),
        Check(
            "resumes after Last-Event-ID",
            needs_app(resumes),
            "start at history[last_event_id:]: ids are 1-based, so index last_event_id is the "
            "first event the client has not seen",
        ),
        Check(
            "nothing again for a client that has everything",
            needs_app(at_newest),
            "Last-Event-ID equal to the newest id means the client is up to date: send nothing",
        ),
        Check(
            "Last-Event-ID: 0 is an id too",
            needs_app(from_zero),
            "test `last_event_id is None`, not `if not last_event_id`: 0 is a real id",
        ),
        Check(
            "an id it cannot place gets a reset, then everything",
            needs_app(unknown),
            "if last_event_id > len(history): yield ServerSentEvent(event='reset', data="
            "{'newest': len(history)}) and then every event from the start",
        ),
        Check(
            "a malformed Last-Event-ID is a 422",
            needs_app(malformed),
            "declare it as Annotated[int | None, Header()]: FastAPI then refuses what is not "
            "an integer, with a 422 that says so",
        ),
    ]
    try:
        return run_checks(
            checks, hints, all_hints='check_resumable_ticks(make_ticker_app, hints="all")'
        )
    finally:
        with contextlib.suppress(Exception):
            served.close()
