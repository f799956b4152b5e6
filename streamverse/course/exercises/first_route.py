"""Lesson 00: a first route on the platform, calling a service function.

The exercise: an ``APIRouter`` with ``GET /streams/{stream_id}/summary`` answering
``{"title": ..., "status": ..., "live": ...}`` from ``streams.service.get_stream``. An
unknown stream is the service's ``NotFound``, which the app already answers as a JSON 404.
The check includes the router in a real platform on a background server and calls it.
"""

from __future__ import annotations

import contextlib
from typing import Any

from ..checks import Check, Hints, Result, run_checks
from .platform import Platform, answer, differs, ok


def check_stream_summary(router: object, hints: Hints = "first") -> list[Result]:
    """Check the learner's router; prints one line per check and returns the results."""
    platform = Platform(router)
    state: dict[str, Any] = {}

    def summary(stream_id: str) -> tuple[int, object]:
        return answer(platform.http.get(f"/streams/{stream_id}/summary"))

    def scheduled() -> str | None:
        state["owner"] = platform.user("ada")
        state["stream"] = platform.stream(state["owner"], "Speedrun practice")
        expected = {"title": "Speedrun practice", "status": "scheduled", "live": False}
        return differs(
            platform, summary(state["stream"]), (200, expected), "for a scheduled stream"
        )

    def live() -> str | None:
        path = f"/streams/{state['stream']}/status"
        ok(platform.http.put(path, json={"status": "live"}, headers=state["owner"]))
        expected = {"title": "Speedrun practice", "status": "live", "live": True}
        return differs(platform, summary(state["stream"]), (200, expected), "once live")

    def another() -> str | None:
        other = platform.stream(state["owner"], "Chess endgames")
        expected = {"title": "Chess endgames", "status": "scheduled", "live": False}
        return differs(platform, summary(other), (200, expected), "for a second stream")

    def unknown() -> str | None:
        expected = (404, {"detail": "stream 'nope' not found"})
        return differs(platform, summary("nope"), expected, "for an unknown stream")

    def needs_state(step: Check) -> Check:
        def run() -> str | None:
            if "stream" not in state:
                return "skipped: the first check did not get that far"
            return step.run()

        return Check(step.name, run, step.hint)

    checks = [
        Check(
            "a scheduled stream's summary",
            scheduled,
            "a route returns what the client gets: ask the streams service for the stream "
            "first, then return a dict made from its fields",
        ),
        needs_state(
            Check(
                "a live stream says it is live",
                live,
                "'live' is whether stream.status == StreamStatus.live (or == 'live')",
            )
        ),
        needs_state(
            Check(
                "the title comes from the stream",
                another,
                "read everything from the stream get_stream returns; nothing hard-coded",
            )
        ),
        Check(
            "an unknown stream is a 404 that says why",
            unknown,
            "let get_stream's NotFound propagate: the app answers it as a JSON 404 (do not "
            "catch it and return something else)",
        ),
    ]
    try:
        return run_checks(
            checks, hints, all_hints='check_stream_summary(summary_router, hints="all")'
        )
    finally:
        with contextlib.suppress(Exception):
            platform.close()
