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

from streamverse.exercises.dashboard import check_dashboard
from streamverse.notebook import running_servers

pytestmark = pytest.mark.slow

CHECKS = [
    "top-N from a stats event",
    "remembers the last event id",
    "keep-alives and other events change nothing",
    "a reset event replaces the state",
    "live: the first snapshot",
    "live: follows changes",
    "reconnects with Last-Event-ID",
    "catches up after the reconnect",
    "reloads after a server restart",
    "follow() returns when stop is set",
]
FAST = 2.0
"""Seconds a wrong dashboard gets to show a change (a right one needs far less)."""


class Reference:
    """A correct dashboard, written as the solution notebook's."""

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
        with httpx.Client(timeout=httpx.Timeout(10.0, read=60.0)) as client:
            while not stop.is_set():
                try:
                    with connect_sse(client, "GET", url, headers=self.headers()) as source:
                        for event in source.iter_sse():
                            self.handle(event)
                            if stop.is_set():
                                return
                except httpx.HTTPError:
                    pass
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
    """Run the check; returns {check name: the rest of its line, "PASS" for a pass}."""
    check_dashboard(factory, timeout=timeout)
    lines = capsys.readouterr().out.splitlines()
    results = {}
    for line in lines[:-1]:
        verdict, _, rest = line.partition("  ")
        name = next(name for name in CHECKS if rest.startswith(name))
        results[name] = "PASS" if verdict == "PASS" else rest[len(name) + 2 :]
        assert verdict in ("PASS", "FAIL"), line
    assert list(results) == CHECKS, lines
    passed = sum(result == "PASS" for result in results.values())
    assert lines[-1] == f"{passed} of {len(CHECKS)} checks pass"
    assert running_servers() == [], "the check left a server running"
    return results


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
    assert "Hint: " in results["reconnects with Last-Event-ID"]


def test_reconnecting_without_last_event_id_fails(capsys: pytest.CaptureFixture[str]) -> None:
    problems = failing(run_check(StartsOver, capsys))
    assert list(problems) == ["reconnects with Last-Event-ID"]
    assert problems["reconnects with Last-Event-ID"].startswith(
        "it reconnected without a Last-Event-ID header."
    )


def test_resuming_from_an_old_id_fails(capsys: pytest.CaptureFixture[str]) -> None:
    problems = failing(run_check(StaleId, capsys))
    assert "remembers the last event id" in problems
    assert "older than the last event it had received" in problems["reconnects with Last-Event-ID"]


def test_ignoring_reset_fails(capsys: pytest.CaptureFixture[str]) -> None:
    problems = failing(run_check(IgnoresReset, capsys))
    assert list(problems) == ["a reset event replaces the state", "reloads after a server restart"]
    assert problems["reloads after a server restart"].startswith(
        "after the server restarted (event: reset), top() is still "
        "['Lo-fi beats', 'Pasta from scratch', 'Speedrun practice']"
    )


def test_a_dashboard_that_never_updates_fails(capsys: pytest.CaptureFixture[str]) -> None:
    problems = failing(run_check(NeverUpdates, capsys))
    assert "live: the first snapshot" not in problems
    assert problems["live: follows changes"].startswith("after 3 viewers joined, top() is still")
    assert "catches up after the reconnect" in problems


def test_giving_up_on_a_dropped_connection_fails(capsys: pytest.CaptureFixture[str]) -> None:
    problems = failing(run_check(GivesUp, capsys))
    assert "live: follows changes" not in problems
    assert problems["reconnects with Last-Event-ID"].startswith("follow() raised ")
    assert "when its connection was cut" in problems["reconnects with Last-Event-ID"]
    assert set(CHECKS[6:]) <= set(problems)


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
