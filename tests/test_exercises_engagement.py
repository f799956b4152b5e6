"""Lesson 07's server-side check: a route that aggregates real state. Wrong ones fail."""

from __future__ import annotations

import random
from typing import Any

import pytest
from fastapi import APIRouter

from streamverse.analytics.trending import engagement_score
from streamverse.course.exercises.engagement import check_engagement
from streamverse.likes import service as likes
from streamverse.services import ServicesDep
from streamverse.streams import service as streams

pytestmark = pytest.mark.slow


def failing(results: list[Any]) -> dict[str, str]:
    return {result.name: result.problem for result in results if not result.passed}


def engagement_router(variant: str = "right") -> APIRouter:
    router = APIRouter()
    cached: dict[str, int] = {}

    @router.get("/streams/{stream_id}/engagement")
    async def engagement(stream_id: str, services: ServicesDep) -> dict[str, float]:
        if variant != "no-404":
            await streams.get_stream(services, stream_id)
        viewers = services.presence.viewers(stream_id)
        if variant == "cached-viewers":
            viewers = cached.setdefault(stream_id, viewers) if viewers else viewers
        if variant == "invented":
            viewers = random.randint(50, 1000)
        rate = round(services.activity.per_minute(stream_id), 2)
        count = (await likes.count_likes(services, [stream_id]))[stream_id]
        if variant == "no-likes":
            count = 0
        score = viewers + rate + count if variant == "own-score" else None
        score = engagement_score(viewers, rate, count) if score is None else score
        return {"viewers": viewers, "comments_per_minute": rate, "likes": count, "score": score}

    return router


def test_the_reference_passes() -> None:
    assert failing(check_engagement(engagement_router())) == {}


@pytest.mark.parametrize(
    ("variant", "fails"),
    [
        ("invented", "a quiet stream: all zero"),
        ("no-likes", "likes from the database"),
        ("own-score", "viewers and chat rate from real connections"),
        ("cached-viewers", "a viewer who leaves is not counted"),
        ("no-404", "an unknown stream is a 404"),
    ],
)
def test_a_wrong_route_fails(variant: str, fails: str) -> None:
    assert fails in failing(check_engagement(engagement_router(variant)))
