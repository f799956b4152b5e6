"""The dashboard check's live part: the learner's ``follow()`` in a thread, against a real
server behind a relay the check controls (``course.relay``), phase by phase."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, Protocol
from unittest import mock

import httpx

from ...config import Settings
from ..checks import Check, describe
from ..relay import Relay
from .dashboard_scenario import FEED, PHASES, TOP_N, Scenario
from .platform import SetupError

REFUSED_FOR = 1.0
"""Seconds the relay refuses connections after a cut: reconnect attempts are counted."""
MAX_ATTEMPTS = 1 + int(REFUSED_FOR / 0.1)
"""A client pausing at least 0.1 s between attempts makes at most this many."""
KEEPALIVE = Settings().sse_keepalive_seconds
"""A real server's keep-alive interval: a read timeout must be longer, or a quiet feed
times out."""


class Dashboard(Protocol):
    last_event_id: str | None

    def handle(self, event: Any) -> None: ...

    def top(self) -> object: ...

    def follow(self, url: str, stop: threading.Event) -> None: ...


class Follower:
    """The learner's ``follow(url, stop)`` running in a thread, and what became of it."""

    def __init__(self, dashboard: Dashboard, url: str) -> None:
        self.dashboard = dashboard
        self.stop = threading.Event()
        self.error: BaseException | None = None
        self.ended = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(url,), name="dashboard-follow", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def _run(self, url: str) -> None:
        try:
            self.dashboard.follow(url, self.stop)
        except BaseException as error:  # reported by the check, never raised
            self.error = error
        finally:
            self.ended.set()

    def problem(self) -> str | None:
        """Why follow() is no longer running, or None while it runs."""
        if not self.ended.is_set():
            return None
        if self.error is not None:
            return f"follow() raised {describe(self.error)}"
        return "follow() returned before stop was set"

    def wait_top(self, expected: list[str], timeout: float, when: str) -> str | None:
        """Poll ``top()`` until it is ``expected``; None, or what went wrong."""
        deadline = time.monotonic() + timeout
        got: Any = None
        error: Exception | None = None
        while True:
            if (problem := self.problem()) is not None:
                return f"{problem} ({when})"
            try:
                got, error = self.dashboard.top(), None
            except Exception as raised:  # keep polling: follow() may explain it better
                error = raised
            if error is None and isinstance(got, list) and got == expected:
                return None
            if time.monotonic() > deadline:
                if error is not None:
                    return f"{when}, top() raised {describe(error)}"
                return f"{when}, top() is still {got!r} after {timeout:g} s, expected {expected!r}"
            time.sleep(0.02)


@contextlib.contextmanager
def read_timeouts(port_of: Callable[[], int]) -> Iterator[list[float | None]]:
    """Record the read timeout of every request the learner's client sends to the relay
    (httpx puts each request's timeouts in ``request.extensions``)."""
    seen: list[float | None] = []
    sync_send = httpx.HTTPTransport.handle_request
    async_send = httpx.AsyncHTTPTransport.handle_async_request

    def note(request: httpx.Request) -> None:
        if request.url.port == port_of():
            seen.append(request.extensions.get("timeout", {}).get("read"))

    def sync_handle(self: httpx.HTTPTransport, request: httpx.Request) -> httpx.Response:
        note(request)
        return sync_send(self, request)

    async def async_handle(
        self: httpx.AsyncHTTPTransport, request: httpx.Request
    ) -> httpx.Response:
        note(request)
        return await async_send(self, request)

    with (
        mock.patch.object(httpx.HTTPTransport, "handle_request", sync_handle),
        mock.patch.object(httpx.AsyncHTTPTransport, "handle_async_request", async_handle),
    ):
        yield seen


class LiveChecks:
    """The live checks, in order; each one's state is the previous one's outcome."""

    def __init__(self, factory: Callable[[int], Dashboard], timeout: float) -> None:
        self.factory, self.timeout = factory, timeout
        self.scenario = Scenario()
        self.relay: Relay | None = None
        self.follower: Follower | None = None
        self.broken: str | None = None
        self.update_id = 0
        self.read_timeouts: list[float | None] = []

    def first_snapshot(self) -> str | None:
        server = self.scenario.start_server()
        self.scenario.populate()
        self.scenario.open_feed()
        self.scenario.enter("start")
        self.relay = Relay(server.port or 0, name="dashboard-check-relay").start()
        self.follower = Follower(self.factory(TOP_N), self.relay.url + FEED)
        self.follower.start()
        return self.follower.wait_top(PHASES["start"][1], self.timeout, "after connecting")

    def read_timeout(self, follower: Follower, relay: Relay) -> str | None:
        if not self.read_timeouts:
            return "no request from follow() reached the server through httpx"
        read = self.read_timeouts[0]
        if read is not None and read <= KEEPALIVE:
            return (
                f"its read timeout is {read:g} s: a real server sends a keep-alive only "
                f"every {KEEPALIVE:g} s, so a quiet feed would time out and reconnect"
            )
        return None

    def follows_changes(self, follower: Follower, relay: Relay) -> str | None:
        self.update_id = self.scenario.enter("update")
        return follower.wait_top(PHASES["update"][1], self.timeout, "after 3 viewers joined")

    def resumes(self, follower: Follower, relay: Relay) -> str | None:
        before = len(relay.requests)
        relay.refuse()
        relay.cut()
        refused_from = time.monotonic()
        self.scenario.enter("offline")  # three viewers join while the client is cut off
        time.sleep(max(0.0, refused_from + REFUSED_FOR - time.monotonic()))  # a window
        attempts = sum(refused_from <= at for at in relay.attempts)
        relay.refuse(False)
        if attempts > MAX_ATTEMPTS:
            return (
                f"it tried to reconnect {attempts} times in {REFUSED_FOR:g} s while the "
                "server was unreachable: a tight loop that would hammer a recovering server"
            )
        deadline = time.monotonic() + self.timeout
        while len(relay.requests) == before:
            if (problem := follower.problem()) is not None:
                return problem + " when its connection was cut"
            if time.monotonic() > deadline:
                return f"follow() did not reconnect within {self.timeout:g} s of the drop"
            time.sleep(0.02)
        sent = relay.requests[before].headers.get("last-event-id")
        if sent is None:
            return "it reconnected without a Last-Event-ID header"
        if not sent.isdecimal():
            return f"it reconnected with Last-Event-ID {sent!r}, not an event id"
        if int(sent) < self.update_id:
            return (
                f"it reconnected with Last-Event-ID {sent}, older than the last event it "
                "had received"
            )
        return None

    def catches_up(self, follower: Follower, relay: Relay) -> str | None:
        expected = PHASES["offline"][1]
        return follower.wait_top(expected, self.timeout, "after reconnecting (3 viewers joined)")

    def reloads_after_restart(self, follower: Follower, relay: Relay) -> str | None:
        relay.hold()  # the reconnect waits here until the new server is up
        relay.upstream_port = self.scenario.restart().port or 0  # the old feed ends cleanly
        self.scenario.open_feed()
        self.scenario.enter("restart")
        relay.release()
        when = "after the server restarted: its feed ended cleanly, then event: reset"
        problem = follower.wait_top(PHASES["restart"][1], self.timeout, when)
        if problem is None:
            self.scenario.enter("after")
            when = "after the reset and one more viewer"
            problem = follower.wait_top(PHASES["after"][1], self.timeout, when)
        return problem

    def stops(self, follower: Follower, relay: Relay) -> str | None:
        follower.stop.set()
        relay.refuse()
        relay.cut()
        if not follower.ended.wait(self.timeout):
            return f"follow() was still running {self.timeout:g} s after stop was set"
        if follower.error is not None:
            return f"follow() raised {describe(follower.error)} when stopped"
        return None

    def guarded(self, step: Callable[..., str | None]) -> Callable[[], str | None]:
        """Skip when an earlier step could not run; report the check's own failures as such."""

        def run() -> str | None:
            if self.broken is not None:
                return self.broken
            try:
                if step == self.first_snapshot:
                    return step()
                if self.follower is None or self.relay is None:
                    return "skipped: follow() never started"
                if (problem := self.follower.problem()) is not None:
                    return problem
                return step(self.follower, self.relay)
            except (SetupError, httpx.HTTPError, OSError) as error:
                self.broken = f"the check's own server failed ({describe(error)})"
                return self.broken

        return run

    def checks(self) -> list[Check]:
        return [
            Check(
                "live: the first snapshot",
                self.guarded(self.first_snapshot),
                "follow(url, stop): open the feed with httpx_sse.connect_sse and call "
                "self.handle(event) for each event of source.iter_sse()",
            ),
            Check(
                "a read timeout longer than the keep-alive",
                self.guarded(self.read_timeout),
                "give the client httpx.Timeout(10.0, read=60.0): a live feed may be quiet for "
                "a long time, and only a dead one goes a minute without a keep-alive",
            ),
            Check(
                "live: follows changes",
                self.guarded(self.follows_changes),
                "keep reading: every stats event is a new snapshot; handle them all",
            ),
            Check(
                "reconnects with Last-Event-ID, after a pause",
                self.guarded(self.resumes),
                "loop until stop is set; catch httpx.HTTPError around one connection, wait "
                "stop.wait(event.retry / 1000) (the server's hint), then reconnect with "
                "headers={'Last-Event-ID': self.last_event_id}",
            ),
            Check(
                "catches up after the reconnect",
                self.guarded(self.catches_up),
                "after reconnecting, handle the events the server replays, as before",
            ),
            Check(
                "reconnects after a clean end, and reloads on reset",
                self.guarded(self.reloads_after_restart),
                "a feed that ends without an error (the server restarted) is a reason to "
                "reconnect too, not to return; the new server answers your old id with "
                "event: reset, a fresh snapshot whose id is the one to resume from next",
            ),
            Check(
                "follow() returns when stop is set",
                self.guarded(self.stops),
                "check stop.is_set() after each event and before reconnecting (the check also "
                "closes the connection); pause with stop.wait(delay), not time.sleep",
            ),
        ]

    def close(self) -> None:
        if self.follower is not None:
            self.follower.stop.set()
        if self.relay is not None:
            self.relay.close()
        self.scenario.close()
        if self.follower is not None:
            self.follower.ended.wait(2)
