"""Lesson 07, live aggregation: a live top-N dashboard fed by the global-stats SSE feed.

The exercise: write a class ``Dashboard(n)`` with

* ``handle(event)``: apply one event from ``GET /streams/global-stats/live`` (an
  ``httpx_sse.ServerSentEvent``): a ``stats`` or ``reset`` event carries a full snapshot,
  anything else (keep-alives, unknown types) changes nothing; remember the event's id in
  ``last_event_id``;
* ``top()``: the titles of the ``n`` best-scoring live streams, best first;
* ``follow(url, stop)``: connect, hand every event to ``handle``, and when the connection
  ends, reconnect with ``Last-Event-ID`` after a pause, until ``stop`` is set.

``check_dashboard(Dashboard)`` first feeds it made-up events, then runs ``follow`` in a
thread against a real server (``dashboard_scenario``) behind a relay the check controls
(``course.relay``): viewers join; the relay cuts the connection and refuses new ones for a
moment while more viewers join; finally the server restarts, ending the feed cleanly, and
the resuming client gets ``event: reset``.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from typing import Any

from ..checks import Check, Hints, Result, describe, run_checks
from .dashboard_live import Dashboard, LiveChecks, read_timeouts
from .dashboard_scenario import SERVER_SETTINGS, TOP_N

# -- made-up events, for the checks that need no server ------------------------------------


def _snapshot(titles_and_scores: list[tuple[str, float]]) -> str:
    trending = [
        {
            "stream_id": f"s{index}",
            "title": title,
            "category": "gaming",
            "viewers": int(score),
            "likes": 0,
            "comments_per_minute": 0.0,
            "score": score,
        }
        for index, (title, score) in enumerate(titles_and_scores)
    ]
    viewers = sum(int(score) for _, score in titles_and_scores)
    stats = {
        "active_streams": len(trending),
        "total_viewers": viewers,
        "popular_categories": [
            {"category": "gaming", "live_streams": len(trending), "viewers": viewers}
        ],
        "trending": trending,
    }
    return json.dumps(stats, separators=(",", ":"))


FIRST = [("Alpha", 9.0), ("Bravo", 7.0), ("Charlie", 5.0), ("Delta", 3.0)]
RELOADED = [("Echo", 4.0), ("Alpha", 2.0)]


def _event(kind: str, data: str, id: str) -> Any:
    from httpx_sse import ServerSentEvent

    return ServerSentEvent(event=kind, data=data, id=id)


def _offline_checks(factory: Callable[[int], Dashboard]) -> list[Check]:
    def top_from_stats() -> str | None:
        dashboard = factory(TOP_N)
        dashboard.handle(_event("stats", _snapshot(FIRST), "7"))
        return _compare_top(dashboard, ["Alpha", "Bravo", "Charlie"])

    def remembers_id() -> str | None:
        dashboard = factory(TOP_N)
        dashboard.handle(_event("stats", _snapshot(FIRST), "7"))
        dashboard.handle(_event("stats", _snapshot(FIRST[1:]), "8"))
        got = getattr(dashboard, "last_event_id", None)
        if got is None or str(got) != "8":
            return f"after events with ids 7 and 8, last_event_id is {got!r}, expected '8'"
        return None

    def skips_others() -> str | None:
        dashboard = factory(TOP_N)
        dashboard.handle(_event("stats", _snapshot(FIRST), "7"))
        # httpx-sse 0.4 turns each keep-alive comment into an empty "message" event once an
        # id has been seen; a "dropped" event has no id of its own (httpx-sse repeats the last).
        for event in (
            _event("message", "", "7"),
            _event("dropped", '{"reason":"slow consumer","last_id":7}', "7"),
            _event("chat", '{"text":"hello"}', "7"),
        ):
            try:
                dashboard.handle(event)
            except Exception as error:
                return f"handle() raised {describe(error)} on an {event!r}"
        return _compare_top(dashboard, ["Alpha", "Bravo", "Charlie"])

    def reset_replaces() -> str | None:
        dashboard = factory(TOP_N)
        dashboard.handle(_event("stats", _snapshot(FIRST), "7"))
        dashboard.handle(_event("reset", _snapshot(RELOADED), "0"))
        problem = _compare_top(dashboard, ["Echo", "Alpha"], when="after a reset event")
        got = getattr(dashboard, "last_event_id", None)
        if problem is None and (got is None or str(got) != "0"):
            problem = f"after a reset event with id 0, last_event_id is {got!r}, expected '0'"
        return problem

    return [
        Check(
            "top-N from a stats event",
            top_from_stats,
            "json.loads(event.data)['trending'] is already sorted best first; keep the "
            "first n titles",
        ),
        Check(
            "remembers the last event id",
            remembers_id,
            "set self.last_event_id = event.id for every event that has one",
        ),
        Check(
            "keep-alives and other events change nothing",
            skips_others,
            "only 'stats' and 'reset' events carry a snapshot; ignore every other type "
            "(and events with empty data)",
        ),
        Check(
            "a reset event replaces the state",
            reset_replaces,
            "treat event: reset like stats: its data is a fresh, complete snapshot",
        ),
    ]


def _compare_top(dashboard: Dashboard, expected: list[str], when: str = "") -> str | None:
    got = dashboard.top()
    if got is None:
        return "top() returned None (not written yet?), expected a list of titles"
    if not isinstance(got, list):
        return f"top() returned a {type(got).__name__}, expected a list of titles"
    if got != expected:
        return f"top() is {got!r}{' ' + when if when else ''}, expected {expected!r}"
    return None


def check_dashboard(
    factory: Callable[[int], Dashboard], hints: Hints = "first", *, timeout: float = 5.0
) -> list[Result]:
    """Check a ``Dashboard`` class (called as ``factory(3)``); prints one line per check.

    ``timeout`` is how long the learner's code may take to reflect each change. The check
    starts (and always stops) its own server; it never raises.
    """
    live = LiveChecks(factory, timeout)
    relay_port = lambda: live.relay.port if live.relay is not None else -1  # noqa: E731
    try:
        with read_timeouts(relay_port) as seen:
            live.read_timeouts = seen
            return run_checks(
                [*_offline_checks(factory), *live.checks()],
                hints,
                all_hints='check_dashboard(Dashboard, hints="all")',
            )
    finally:
        with contextlib.suppress(Exception):
            live.close()


__all__ = ["SERVER_SETTINGS", "Dashboard", "check_dashboard"]
