"""Lesson 02's server-side check: a fastapi.sse route resuming from Last-Event-ID."""

from __future__ import annotations

from typing import Annotated, Any

import pytest
from fastapi import FastAPI, Header
from fastapi.sse import EventSourceResponse, ServerSentEvent

from streamverse.course.exercises.sse_resume import check_resumable_ticks

pytestmark = pytest.mark.slow


def failing(results: list[Any]) -> dict[str, str]:
    return {result.name: result.problem for result in results if not result.passed}


def ticker(variant: str = "right") -> Any:
    def make(history: list[dict[str, int]]) -> FastAPI:
        app = FastAPI()
        header: Any = Annotated[str | None, Header()] if variant == "string-id" else None

        async def events(last_event_id: int | None) -> Any:
            start = last_event_id or 0 if variant == "zero-is-none" else last_event_id
            start = 0 if start is None or variant == "ignores-id" else start
            if variant == "off-by-one":
                start = max(start - 1, 0)
            if start > len(history) and variant != "no-reset":
                yield ServerSentEvent(event="reset", data={"newest": len(history)})
                start = 0
            for index in range(start, len(history)):
                event_id = None if variant == "no-ids" else str(index + 1)
                yield ServerSentEvent(data=history[index], event="tick", id=event_id)

        if header is None:

            @app.get("/ticks", response_class=EventSourceResponse)
            async def ticks(last_event_id: Annotated[int | None, Header()] = None) -> Any:
                async for event in events(last_event_id):
                    yield event

        else:

            @app.get("/ticks", response_class=EventSourceResponse)
            async def loose(last_event_id: header = None) -> Any:
                number = int(last_event_id) if last_event_id and last_event_id.isdigit() else None
                async for event in events(number):
                    yield event

        return app

    return make


def test_the_reference_passes() -> None:
    assert failing(check_resumable_ticks(ticker())) == {}


@pytest.mark.parametrize(
    ("variant", "fails"),
    [
        ("ignores-id", "resumes after Last-Event-ID"),
        ("off-by-one", "resumes after Last-Event-ID"),
        ("no-ids", "a fresh client gets every event, with ids"),
        ("no-reset", "an id it cannot place gets a reset, then everything"),
        ("string-id", "a malformed Last-Event-ID is a 422"),
    ],
)
def test_a_wrong_route_fails(variant: str, fails: str) -> None:
    assert fails in failing(check_resumable_ticks(ticker(variant)))
