"""Lesson 07, server side: a route that aggregates real state.

The exercise: an ``APIRouter`` with ``GET /streams/{stream_id}/engagement`` answering
``{"viewers": ..., "comments_per_minute": ..., "likes": ..., "score": ...}`` from the
platform's live state: ``services.presence``, ``services.activity``, the likes service and
``analytics.trending.engagement_score``. The check includes it in a real platform, makes
real viewers (open comment feeds), comments and likes, and compares.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

import httpx

from ...analytics.trending import engagement_score
from ..checks import Check, Hints, Result, run_checks
from .platform import WAIT, Platform, answer, differs, ok


def check_engagement(router: object, hints: Hints = "first") -> list[Result]:
    """Check the learner's router; prints one line per check and returns the results."""
    platform = Platform(router)
    state: dict[str, Any] = {"viewers": []}

    def engagement() -> tuple[int, Any]:
        return answer(platform.http.get(f"/streams/{state['stream']}/engagement"))

    def expect(viewers: int, rate: float, likes: int, when: str) -> str | None:
        score = engagement_score(viewers, rate, likes)
        wanted = {"viewers": viewers, "comments_per_minute": rate, "likes": likes, "score": score}
        return differs(platform, engagement(), (200, wanted), when)

    def watch() -> None:
        """A viewer: an open comments feed, counted once its first line has arrived."""
        client = httpx.Client(base_url=platform.url, timeout=WAIT)
        path = f"/streams/{state['stream']}/comments/live"
        response = client.send(client.build_request("GET", path), stream=True)
        lines = response.iter_lines()
        next(lines)  # the replayed welcome: the viewer is counted by now
        state["viewers"].append((client, response, lines))

    def quiet() -> str | None:
        state["owner"] = platform.user("ada")
        state["stream"] = platform.stream(state["owner"], "Speedrun practice", live=True)
        return expect(0, 0.0, 0, "for a stream nobody watches yet")

    def counts_viewers() -> str | None:
        comment = {"text": "welcome!"}
        ok(
            platform.http.post(
                f"/streams/{state['stream']}/comments", json=comment, headers=state["owner"]
            )
        )
        watch()
        watch()
        return expect(2, 1.0, 0, "with two viewers and one comment")

    def counts_likes() -> str | None:
        for name in ("bo", "cy", "di"):
            ok(platform.http.post(f"/streams/{state['stream']}/likes", headers=platform.user(name)))
        return expect(2, 1.0, 3, "after three likes")

    def viewer_leaves() -> str | None:
        client, response, _ = state["viewers"].pop()
        response.close()
        client.close()
        # The server notices the disconnect a moment later: wait while the answer is still
        # the one from before the viewer left, then judge the first different one.
        before = answer(platform.http.get(f"/streams/{state['stream']}/engagement"))
        deadline = time.monotonic() + WAIT
        while engagement() == before and before[0] == 200 and time.monotonic() < deadline:
            time.sleep(0.02)
        return expect(1, 1.0, 3, "after a viewer left")

    def unknown() -> str | None:
        got = answer(platform.http.get("/streams/nope/engagement"))
        return differs(
            platform, got, (404, {"detail": "stream 'nope' not found"}), "for an unknown stream"
        )

    def after_first(step: Any) -> Any:
        def run() -> str | None:
            return step() if "stream" in state else "skipped: the first check did not get that far"

        return run

    checks = [
        Check(
            "a quiet stream: all zero",
            quiet,
            "every number is already counted by a service: presence for viewers, activity "
            "for the chat rate (rounded to 2 places), the likes service for likes",
        ),
        Check(
            "viewers and chat rate from real connections",
            after_first(counts_viewers),
            "read presence and activity when asked, not once: they change as people come and go",
        ),
        Check(
            "likes from the database",
            after_first(counts_likes),
            "(await likes.count_likes(services, [stream_id]))[stream_id], and the score is "
            "engagement_score(viewers, comments_per_minute, likes)",
        ),
        Check(
            "a viewer who leaves is not counted",
            after_first(viewer_leaves),
            "nothing to cache: presence already forgets a viewer whose connection closed",
        ),
        Check(
            "an unknown stream is a 404",
            unknown,
            "call await streams.get_stream(services, stream_id) first: it raises NotFound, "
            "which the app answers as a JSON 404",
        ),
    ]
    try:
        return run_checks(
            checks, hints, all_hints='check_engagement(engagement_router, hints="all")'
        )
    finally:
        for client, response, _ in state["viewers"]:
            with contextlib.suppress(Exception):
                response.close()
                client.close()
        with contextlib.suppress(Exception):
            platform.close()
