"""The dashboard exercise's check: it passes a correct dashboard and fails wrong ones.

Each wrong dashboard below gets one thing wrong, and the check must name that thing (and
keep passing what it gets right), or the check could not tell a learner what to fix.
"""

from __future__ import annotations

import json
import threading
from typing import Any

import httpx
import pytest
from httpx_sse import ServerSentEvent, connect_sse

from streamverse.course.exercises.dashboard import check_dashboard
from streamverse.notebook import running_servers

pytestmark = pytest.mark.slow

CHECKS = [
    "top-N from a stats event",
    "remembers the last event id",
    "keep-alives and other events change nothing",
    "a reset event replaces the state",
    "live: the first snapshot",
    "a read timeout longer than the keep-alive",
    "live: follows changes",
    "reconnects with Last-Event-ID, after a pause",
    "catches up after the reconnect",
    "reconnects after a clean end, and reloads on reset",
    "follow() returns when stop is set",
]
RECONNECTS = "reconnects with Last-Event-ID, after a pause"
RESTART = "reconnects after a clean end, and reloads on reset"
FAST = 2.0
"""Seconds a wrong dashboard gets to show a change (a right one needs far less)."""


class Reference:
    """A correct dashboard, written as the solution notebook's."""

    timeout = httpx.Timeout(10.0, read=60.0)

    def __init__(self, n: int = 3) -> None:
        self.n = n
        self.last_event_id: str | None = None
        self.retry_seconds = 1.0
        self.trending: list[dict[str, Any]] = []

    def handle(self, event: ServerSentEvent) -> None:
        if event.event in ("stats", "reset") and event.data:
            self.trending = json.loads(event.data)["trending"]
        if event.id:
            self.last_event_id = event.id
        if event.retry is not None:
            self.retry_seconds = event.retry / 1000

    def top(self) -> list[str]:
        return [stream["title"] for stream in self.trending[: self.n]]

    def headers(self) -> dict[str, str]:
        if self.last_event_id is None:
            return {}
        return {"Last-Event-ID": self.last_event_id}

    def follow(self, url: str, stop: threading.Event) -> None:
        with httpx.Client(timeout=self.timeout) as client:
            while not stop.is_set():
                try:
                    with connect_sse(client, "GET", url, headers=self.headers()) as source:
                        for event in source.iter_sse():
                            self.handle(event)
                            if stop.is_set():
                                return
                except httpx.HTTPError:
                    pass
                self.pause(stop)

    def pause(self, stop: threading.Event) -> None:
        stop.wait(self.retry_seconds)


class Unwritten:
    """The exercise cell as the lesson ships it."""

    def __init__(self, n: int = 3) -> None:
        self.n = n
        self.last_event_id: str | None = None

    def handle(self, event: ServerSentEvent) -> None:
        raise NotImplementedError

    def top(self) -> list[str]:
        raise NotImplementedError

    def follow(self, url: str, stop: threading.Event) -> None:
        raise NotImplementedError


class StartsOver(Reference):
    """Reconnects, but never says where it left off."""

    def headers(self) -> dict[str, str]:
        return {}


class StaleId(Reference):
    """Resumes from the first id it ever saw."""

    def handle(self, event: ServerSentEvent) -> None:
        first = self.last_event_id
        super().handle(event)
        if first is not None:
            self.last_event_id = first


class IgnoresReset(Reference):
    """Knows only ``stats`` events."""

    def handle(self, event: ServerSentEvent) -> None:
        if event.event == "reset":
            self.last_event_id = event.id
            return
        super().handle(event)


class NeverUpdates(Reference):
    """Keeps the first snapshot for ever."""

    def handle(self, event: ServerSentEvent) -> None:
        trending = self.trending
        super().handle(event)
        if trending:
            self.trending = trending


class GivesUp(Reference):
    """Follows one connection and lets its error escape."""

    def follow(self, url: str, stop: threading.Event) -> None:
        with httpx.Client(timeout=10.0) as client, connect_sse(client, "GET", url) as source:
            for event in source.iter_sse():
                self.handle(event)


class CrashesOnKeepAlive(Reference):
    """Parses every event's data, the empty keep-alive events too."""

    def handle(self, event: ServerSentEvent) -> None:
        json.loads(event.data)
        super().handle(event)


class ReturnsOnCleanEnd(Reference):
    """Reconnects after an error, but takes a feed that ends cleanly as the end."""

    def follow(self, url: str, stop: threading.Event) -> None:
        with httpx.Client(timeout=self.timeout) as client:
            while not stop.is_set():
                try:
                    with connect_sse(client, "GET", url, headers=self.headers()) as source:
                        for event in source.iter_sse():
                            self.handle(event)
                    return
                except httpx.HTTPError:
                    stop.wait(self.retry_seconds)


class TightLoop(Reference):
    """Reconnects at once, as often as it can."""

    def pause(self, stop: threading.Event) -> None:
        pass


class ShortReadTimeout(Reference):
    """A read timeout shorter than the server's keep-alive interval (15 s)."""

    timeout = httpx.Timeout(10.0, read=5.0)


class IgnoresStop(Reference):
    """Keeps reconnecting after ``stop`` is set (for a while, so the test can end)."""

    def follow(self, url: str, stop: threading.Event) -> None:
        later = threading.Event()

        def set_later() -> None:
            stop.wait()
            later.wait(FAST + 2)  # a pause, not a synchronisation: nothing sets it early
            later.set()

        threading.Thread(target=set_later, daemon=True).start()
        super().follow(url, later)


def run_check(factory: Any, capsys: pytest.CaptureFixture[str], timeout: float = FAST) -> dict:
    """Run the check; returns {check name: "PASS", or "<problem>. Hint: <hint>"}."""
    results = check_dashboard(factory, timeout=timeout)
    printed = capsys.readouterr().out.splitlines()
    assert [result.name for result in results] == CHECKS
    passed = sum(result.passed for result in results)
    assert f"{passed} of {len(CHECKS)} checks pass" in printed
    assert running_servers() == [], "the check left a server running"
    return {
        result.name: "PASS" if result.passed else f"{result.problem}. Hint: {result.hint}"
        for result in results
    }


def failing(results: dict) -> dict:
    return {name: result for name, result in results.items() if result != "PASS"}


def test_a_correct_dashboard_passes_every_check(capsys: pytest.CaptureFixture[str]) -> None:
    assert failing(run_check(Reference, capsys, timeout=10.0)) == {}


def test_the_unwritten_exercise_fails_every_check_quickly(
    capsys: pytest.CaptureFixture[str],
) -> None:
    results = run_check(Unwritten, capsys)
    for name in CHECKS[:4]:
        assert results[name].startswith("not written yet (it raises NotImplementedError)")
    for name in CHECKS[4:]:
        assert results[name].startswith("follow() raised NotImplementedError (not written yet)")
    assert "Hint: " in results[RECONNECTS]


def test_reconnecting_without_last_event_id_fails(capsys: pytest.CaptureFixture[str]) -> None:
    problems = failing(run_check(StartsOver, capsys))
    assert list(problems) == [RECONNECTS]
    assert problems[RECONNECTS].startswith("it reconnected without a Last-Event-ID header.")


def test_resuming_from_an_old_id_fails(capsys: pytest.CaptureFixture[str]) -> None:
    problems = failing(run_check(StaleId, capsys))
    assert "remembers the last event id" in problems
    assert "older than the last event it had received" in problems[RECONNECTS]


def test_ignoring_reset_fails(capsys: pytest.CaptureFixture[str]) -> None:
    problems = failing(run_check(IgnoresReset, capsys))
    assert list(problems) == ["a reset event replaces the state", RESTART]
    assert problems[RESTART].startswith(
        "after the server restarted: its feed ended cleanly, then event: reset, top() is still "
    )


def test_a_dashboard_that_never_updates_fails(capsys: pytest.CaptureFixture[str]) -> None:
    problems = failing(run_check(NeverUpdates, capsys))
    assert "live: the first snapshot" not in problems
    assert problems["live: follows changes"].startswith("after 3 viewers joined, top() is still")
    assert "catches up after the reconnect" in problems


def test_giving_up_on_a_dropped_connection_fails(capsys: pytest.CaptureFixture[str]) -> None:
    problems = failing(run_check(GivesUp, capsys))
    assert "live: follows changes" not in problems
    assert problems[RECONNECTS].startswith("follow() raised ")
    assert "when its connection was cut" in problems[RECONNECTS]
    assert set(CHECKS[7:]) <= set(problems)


def test_returning_when_the_feed_ends_cleanly_fails(capsys: pytest.CaptureFixture[str]) -> None:
    problems = failing(run_check(ReturnsOnCleanEnd, capsys))
    assert list(problems) == [RESTART, "follow() returns when stop is set"]
    assert problems[RESTART].startswith("follow() returned before stop was set")


def test_reconnecting_in_a_tight_loop_fails(capsys: pytest.CaptureFixture[str]) -> None:
    problems = failing(run_check(TightLoop, capsys))
    assert list(problems) == [RECONNECTS]
    assert "while the server was unreachable: a tight loop" in problems[RECONNECTS]


def test_a_read_timeout_shorter_than_the_keepalive_fails(
    capsys: pytest.CaptureFixture[str],
) -> None:
    problems = failing(run_check(ShortReadTimeout, capsys))
    assert list(problems) == ["a read timeout longer than the keep-alive"]
    assert problems["a read timeout longer than the keep-alive"].startswith(
        "its read timeout is 5 s: a real server sends a keep-alive only every 15 s"
    )


def test_crashing_on_keepalives_fails(capsys: pytest.CaptureFixture[str]) -> None:
    problems = failing(run_check(CrashesOnKeepAlive, capsys))
    assert problems["keep-alives and other events change nothing"].startswith(
        "handle() raised JSONDecodeError"
    )


def test_ignoring_stop_fails(capsys: pytest.CaptureFixture[str]) -> None:
    problems = failing(run_check(IgnoresStop, capsys))
    assert list(problems) == ["follow() returns when stop is set"]
    assert problems["follow() returns when stop is set"].startswith(
        "follow() was still running 2 s after stop was set"
    )


def test_a_dashboard_that_cannot_be_built_is_reported_not_raised(
    capsys: pytest.CaptureFixture[str],
) -> None:
    def factory(n: int) -> Any:
        raise TypeError("Dashboard() takes no arguments")

    results = run_check(factory, capsys)
    assert results["top-N from a stats event"].startswith(
        "it raised TypeError: Dashboard() takes no arguments"
    )
    assert results["live: follows changes"].startswith("skipped: follow() never started")
