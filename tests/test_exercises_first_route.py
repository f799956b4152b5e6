"""Lesson 00's check: a first route that calls a service function. Wrong routes fail."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import APIRouter

from streamverse.course.exercises.first_route import check_stream_summary
from streamverse.errors import NotFound
from streamverse.services import ServicesDep
from streamverse.streams import service as streams

pytestmark = pytest.mark.slow


def failing(results: list[Any]) -> dict[str, str]:
    return {result.name: result.problem for result in results if not result.passed}


def summary_router(variant: str = "right") -> APIRouter:
    router = APIRouter()

    @router.get("/streams/{stream_id}/summary")
    async def summary(stream_id: str, services: ServicesDep) -> dict[str, object]:
        if variant == "hides-404":
            try:
                stream = await streams.get_stream(services, stream_id)
            except NotFound:
                return {}
        else:
            stream = await streams.get_stream(services, stream_id)
        if variant == "hard-coded":
            return {"title": "Speedrun practice", "status": stream.status, "live": False}
        live = stream.status == "scheduled" if variant == "inverted" else stream.status == "live"
        return {"title": stream.title, "status": stream.status, "live": live}

    return router


def test_the_reference_passes() -> None:
    assert failing(check_stream_summary(summary_router())) == {}


@pytest.mark.parametrize(
    ("variant", "fails"),
    [
        ("hides-404", ["an unknown stream is a 404 that says why"]),
        ("hard-coded", ["a live stream says it is live", "the title comes from the stream"]),
        (
            "inverted",
            [
                "a scheduled stream's summary",
                "a live stream says it is live",
                "the title comes from the stream",
            ],
        ),
    ],
)
def test_a_wrong_route_fails(variant: str, fails: list[str]) -> None:
    assert list(failing(check_stream_summary(summary_router(variant)))) == fails


def test_something_that_is_not_a_router_is_reported() -> None:
    problems = failing(check_stream_summary(object()))
    assert problems["a scheduled stream's summary"].startswith("it raised TypeError: expected")
