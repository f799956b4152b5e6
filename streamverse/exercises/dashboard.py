"""Lesson 07, live aggregation: a live top-N dashboard fed by the global-stats SSE feed.

The exercise: write a class ``Dashboard(n)`` with

* ``handle(event)``: apply one event from ``GET /streams/global-stats/live`` (an
  ``httpx_sse.ServerSentEvent``): a ``stats`` or ``reset`` event carries a full snapshot,
  anything else (keep-alives, unknown types) changes nothing; remember the event's id in
  ``last_event_id``;
* ``top()``: the titles of the ``n`` best-scoring live streams, best first;
* ``follow(url, stop)``: connect, hand every event to ``handle``, and when the connection
  drops, reconnect with ``Last-Event-ID`` until ``stop`` (a ``threading.Event``) is set.

``check_dashboard(Dashboard)`` first feeds it made-up events, then runs ``follow`` in a
thread against a real server behind a relay the check controls: viewers join, the relay
cuts the connection while more viewers join, and finally the server restarts (its event
ids start again, so a resuming client gets ``event: reset``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, Protocol

import httpx

from ..app import create_app
from ..config import Settings
from ..notebook import BackgroundServer
from . import Check, run_checks

FEED = "/streams/global-stats/live"
TOP_N = 3
SERVER_SETTINGS: dict[str, Any] = {
    "analytics_interval_seconds": 0.05,
    "snapshot_interval_seconds": 3600.0,  # no periodic refreshes: every event is a change
    "sse_keepalive_seconds": 0.5,
    "sse_retry_ms": 200,
}
SETUP_TIMEOUT = 15.0
"""Seconds the check waits for its own server to reach a state (then it gives up)."""

SPEEDRUN, CHESS, LOFI, PASTA = (
    "Speedrun practice",
    "Chess endgames",
    "Lo-fi beats",
    "Pasta from scratch",
)
STREAMS = {SPEEDRUN: "gaming", CHESS: "gaming", LOFI: "music", PASTA: "cooking"}
LIKES = {CHESS: 3, PASTA: 2, SPEEDRUN: 1}
# Score = viewers + 0.5 * comments per minute + 0.1 * likes (streamverse.global_stats).
PHASES: dict[str, tuple[dict[str, int], list[str]]] = {
    "start": ({SPEEDRUN: 2, LOFI: 1}, [SPEEDRUN, LOFI, CHESS]),
    "update": ({PASTA: 3}, [PASTA, SPEEDRUN, LOFI]),
    "offline": ({LOFI: 3}, [LOFI, PASTA, SPEEDRUN]),
    "restart": ({}, [CHESS, PASTA, SPEEDRUN]),  # the viewers left with the old server
    "after": ({LOFI: 1}, [LOFI, CHESS, PASTA]),
}
"""Viewers that join in each phase, and the top 3 that results (no ties anywhere)."""


class Dashboard(Protocol):
    last_event_id: str | None

    def handle(self, event: Any) -> None: ...

    def top(self) -> list[str]: ...

    def follow(self, url: str, stop: threading.Event) -> None: ...


class SetupError(RuntimeError):
    """The check's own server did not do what the check needs (not the learner's fault)."""


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
    viewers = sum(stream["viewers"] for stream in trending)
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
                return f"handle() raised {_describe(error)} on an {event!r}"
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
    if not isinstance(got, list):
        return f"top() returned a {type(got).__name__}, expected a list of titles"
    if got != expected:
        return f"top() is {got!r}{' ' + when if when else ''}, expected {expected!r}"
    return None


def _describe(error: BaseException) -> str:
    if isinstance(error, NotImplementedError):
        return "NotImplementedError (not written yet)"
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


# -- the check's own view of the feed --------------------------------------------------------


class _Feed:
    """The check's own connection to the global-stats feed, read on demand.

    A tiny parser over ``iter_lines``, so keep-alive comments (every 0.5 s) let it look at
    its deadline even while no event arrives.
    """

    def __init__(self, base_url: str) -> None:
        self._client = httpx.Client(base_url=base_url, timeout=httpx.Timeout(10.0, read=5.0))
        request = self._client.build_request("GET", FEED)
        self._response = self._client.send(request, stream=True)
        self._lines = self._response.iter_lines()

    def _events(self) -> Iterator[tuple[str, str, str] | None]:
        """(type, id, data) per event; None at each comment, so callers can check a clock."""
        kind, data, id = "message", [], ""
        for line in self._lines:
            if line.startswith(":"):
                yield None
            elif line == "":
                if data:
                    yield kind, id, "\n".join(data)
                kind, data = "message", []
            else:
                name, _, value = line.partition(":")
                value = value.removeprefix(" ")
                if name == "event":
                    kind = value
                elif name == "data":
                    data.append(value)
                elif name == "id":
                    id = value

    def wait_top(self, expected: list[str], timeout: float = SETUP_TIMEOUT) -> int:
        """Read until an event's top titles are ``expected``; return that event's id."""
        deadline = time.monotonic() + timeout
        last: list[str] | None = None
        for item in self._events():
            if item is not None and item[0] in ("stats", "reset"):
                last = _titles(json.loads(item[2]))
                if last == expected:
                    return int(item[1])
            if time.monotonic() > deadline:
                break
        raise SetupError(f"the server's own feed showed {last!r}, never {expected!r}")

    def close(self) -> None:
        self._response.close()
        self._client.close()


def _titles(stats: dict[str, Any]) -> list[str]:
    return [stream["title"] for stream in stats["trending"][:TOP_N]]


# -- a relay the check can cut -----------------------------------------------------------


class _Relay:
    """A TCP relay between the learner's client and the server, under the check's control.

    ``cut()`` closes every connection (as a flaky network or a load balancer would),
    ``hold()`` keeps new connections waiting until ``release()``, ``upstream_port`` can
    point at a restarted server, ``refuse()`` turns new connections away. Every request
    head that passes through is recorded, so the check can see the client's headers.
    """

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.requests: list[dict[str, str]] = []
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="dashboard-check-relay", daemon=True
        )
        self._writers: set[asyncio.StreamWriter] = set()
        self._handlers: set[asyncio.Task[Any]] = set()
        self._refusing = False
        self._server: asyncio.Server | None = None
        self._gate: asyncio.Event | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> _Relay:
        self._thread.start()
        self._call(self._start())
        return self

    async def _start(self) -> None:
        self._gate = asyncio.Event()
        self._gate.set()
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    def _call(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(10)

    def hold(self) -> None:
        self._call(self._set_gate(False))

    def release(self) -> None:
        self._call(self._set_gate(True))

    async def _set_gate(self, open: bool) -> None:
        assert self._gate is not None
        if open:
            self._gate.set()
        else:
            self._gate.clear()

    def refuse(self) -> None:
        self._refusing = True
        self.release()

    def cut(self) -> None:
        self._call(self._cut())

    async def _cut(self) -> None:
        for writer in list(self._writers):
            writer.close()

    def close(self) -> None:
        if not self._thread.is_alive():
            return
        self._refusing = True
        with contextlib.suppress(Exception):
            self._call(self._close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        if not self._thread.is_alive():
            self._loop.close()

    async def _close(self) -> None:
        if self._server is not None:
            self._server.close()
        self._refusing = True
        assert self._gate is not None
        self._gate.set()  # held connections move on, see that we refuse, and close
        await self._cut()
        if self._handlers:
            _, pending = await asyncio.wait(set(self._handlers), timeout=5)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        handler = asyncio.current_task()
        assert handler is not None
        self._handlers.add(handler)
        upstream: asyncio.StreamWriter | None = None
        self._writers.add(writer)
        try:
            assert self._gate is not None
            await self._gate.wait()
            if self._refusing or writer.is_closing():
                return
            upstream_reader, upstream = await asyncio.open_connection(
                "127.0.0.1", self.upstream_port
            )
            self._writers.add(upstream)
            pipes = [
                asyncio.create_task(self._pipe(reader, upstream, record=True)),
                asyncio.create_task(self._pipe(upstream_reader, writer)),
            ]
            try:
                await asyncio.wait(pipes, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for pipe in pipes:
                    pipe.cancel()
                await asyncio.gather(*pipes, return_exceptions=True)
        except OSError:
            pass
        except asyncio.CancelledError:
            # Only _close cancels a handler. Python 3.11's start_server would log a handler
            # task that ends cancelled as an error (3.12 fixed that), so end it normally.
            pass
        finally:
            self._handlers.discard(handler)
            for end in (writer, upstream):
                if end is not None:
                    self._writers.discard(end)
                    end.close()

    async def _pipe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, record: bool = False
    ) -> None:
        pending = b""
        with contextlib.suppress(OSError):
            while data := await reader.read(65536):
                if record:
                    pending = self._record(pending + data)
                writer.write(data)
                await writer.drain()

    def _record(self, data: bytes) -> bytes:
        """Parse complete request heads (the client only sends GETs); return the rest."""
        while b"\r\n\r\n" in data:
            head, data = data.split(b"\r\n\r\n", 1)
            headers = {}
            for line in head.decode("latin-1").split("\r\n")[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            self.requests.append(headers)
        return data


# -- the live part -----------------------------------------------------------------------


class _Scenario:
    """A real server with four live streams; viewers, likes and a restart on cue."""

    def __init__(self) -> None:
        self.data_dir = tempfile.mkdtemp(prefix="streamverse-dashboard-check-")
        self.server: BackgroundServer | None = None
        self.http: httpx.Client | None = None
        self.feed: _Feed | None = None
        self.viewers: list[httpx.Response] = []
        self.streams: dict[str, str] = {}

    def start_server(self) -> BackgroundServer:
        settings = Settings(data_dir=self.data_dir, **SERVER_SETTINGS)
        self.server = BackgroundServer(create_app(settings))
        self.http = httpx.Client(base_url=self.server.url, timeout=10.0)
        return self.server

    def populate(self) -> None:
        http = self._http()
        host = self._user("host")
        for title, category in STREAMS.items():
            body = {"title": title, "category": category}
            stream = _ok(http.post("/streams/create", json=body, headers=host))
            self.streams[title] = stream["id"]
            path = f"/streams/{stream['id']}/status"
            _ok(http.put(path, json={"status": "live"}, headers=host))
        fans = [self._user(f"fan{number}") for number in range(max(LIKES.values()))]
        for title, likes in LIKES.items():
            for fan in fans[:likes]:
                _ok(http.post(f"/streams/{self.streams[title]}/likes", headers=fan))

    def open_feed(self) -> None:
        assert self.server is not None
        self.feed = _Feed(self.server.url)

    def enter(self, phase: str) -> int:
        """Viewers join as the phase says; wait until the server's feed shows its top 3."""
        joining, expected = PHASES[phase]
        for title, count in joining.items():
            for _ in range(count):
                self._watch(self.streams[title])
        assert self.feed is not None
        return self.feed.wait_top(expected)

    def restart(self) -> BackgroundServer:
        """Stop the server (viewers and feeds end with it) and start a new one on the same
        database: streams and likes survive, the broker's event ids start again."""
        self.close_connections()
        if self.server is not None:
            self.server.stop()
        return self.start_server()

    def _watch(self, stream_id: str) -> None:
        http = self._http()
        request = http.build_request("GET", f"/streams/{stream_id}/comments/live")
        self.viewers.append(http.send(request, stream=True))

    def _user(self, name: str) -> dict[str, str]:
        user = _ok(self._http().post("/users", json={"name": name}))
        return {"Authorization": f"Bearer {user['token']}"}

    def _http(self) -> httpx.Client:
        assert self.http is not None
        return self.http

    def close_connections(self) -> None:
        for response in self.viewers:
            with contextlib.suppress(Exception):
                response.close()
        self.viewers.clear()
        if self.feed is not None:
            with contextlib.suppress(Exception):
                self.feed.close()
            self.feed = None
        if self.http is not None:
            self.http.close()
            self.http = None

    def close(self) -> None:
        self.close_connections()
        if self.server is not None:
            self.server.stop()
        shutil.rmtree(self.data_dir, ignore_errors=True)


def _ok(response: httpx.Response) -> Any:
    if response.status_code >= 400:
        raise SetupError(f"{response.request.method} {response.request.url.path}: {response.text}")
    return response.json()


class _Follower:
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
            return f"follow() raised {_describe(self.error)}"
        return "follow() returned before stop was set"

    def wait_top(self, expected: list[str], timeout: float, when: str) -> str | None:
        """Poll ``top()`` until it is ``expected``; None, or what went wrong."""
        deadline = time.monotonic() + timeout
        got: Any = None
        error: Exception | None = None
        while True:
            if (problem := self.problem()) is not None:
                return problem
            try:
                got, error = self.dashboard.top(), None
            except Exception as raised:  # keep polling: follow() may explain it better
                error = raised
            if error is None and isinstance(got, list) and got == expected:
                return None
            if time.monotonic() > deadline:
                if error is not None:
                    return f"{when}, top() raised {_describe(error)}"
                return f"{when}, top() is still {got!r} after {timeout:g} s, expected {expected!r}"
            time.sleep(0.02)


def _live_checks(
    factory: Callable[[int], Dashboard], timeout: float
) -> tuple[list[Check], Callable[[], None]]:
    scenario = _Scenario()
    relay: _Relay | None = None
    follower: _Follower | None = None
    state: dict[str, Any] = {}

    def first_snapshot() -> str | None:
        nonlocal relay, follower
        server = scenario.start_server()
        scenario.populate()
        scenario.open_feed()
        scenario.enter("start")
        relay = _Relay(server.port).start()
        follower = _Follower(factory(TOP_N), relay.url + FEED)
        follower.start()
        return follower.wait_top(PHASES["start"][1], timeout, "after connecting")

    def follows_changes(follower: _Follower, relay: _Relay) -> str | None:
        state["update_id"] = scenario.enter("update")
        return follower.wait_top(PHASES["update"][1], timeout, "after 3 viewers joined")

    def resumes(follower: _Follower, relay: _Relay) -> str | None:
        before = len(relay.requests)
        relay.hold()
        relay.cut()
        scenario.enter("offline")  # three viewers join while the client is cut off
        relay.release()
        deadline = time.monotonic() + timeout
        while len(relay.requests) == before:
            if (problem := follower.problem()) is not None:
                return problem + " when its connection was cut"
            if time.monotonic() > deadline:
                return f"follow() did not reconnect within {timeout:g} s of the connection drop"
            time.sleep(0.02)
        sent = relay.requests[before].get("last-event-id")
        if sent is None:
            return "it reconnected without a Last-Event-ID header"
        if not sent.isdecimal():
            return f"it reconnected with Last-Event-ID {sent!r}, not an event id"
        if int(sent) < state["update_id"]:
            return (
                f"it reconnected with Last-Event-ID {sent}, older than the last event it "
                "had received"
            )
        return None

    def catches_up(follower: _Follower, relay: _Relay) -> str | None:
        expected = PHASES["offline"][1]
        return follower.wait_top(expected, timeout, "after reconnecting (3 viewers joined)")

    def reloads_after_restart(follower: _Follower, relay: _Relay) -> str | None:
        relay.hold()
        relay.cut()
        relay.upstream_port = scenario.restart().port
        scenario.open_feed()
        scenario.enter("restart")
        relay.release()
        when = "after the server restarted (event: reset)"
        problem = follower.wait_top(PHASES["restart"][1], timeout, when)
        if problem is None:
            scenario.enter("after")
            when = "after the reset and one more viewer"
            problem = follower.wait_top(PHASES["after"][1], timeout, when)
        return problem

    def stops(follower: _Follower, relay: _Relay) -> str | None:
        follower.stop.set()
        relay.refuse()
        relay.cut()
        if not follower.ended.wait(timeout):
            return f"follow() was still running {timeout:g} s after stop was set"
        if follower.error is not None:
            return f"follow() raised {_describe(follower.error)} when stopped"
        return None

    def guarded(step: Callable[..., str | None], first: bool = False) -> Callable[[], str | None]:
        """Skip when an earlier step could not run; report the check's own failures as such."""

        def run() -> str | None:
            if "broken" in state:
                return state["broken"]
            try:
                if first:
                    return step()
                if follower is None or relay is None:
                    return "skipped: follow() never started"
                if (problem := follower.problem()) is not None:
                    return problem
                return step(follower, relay)
            except (SetupError, httpx.HTTPError, OSError) as error:
                state["broken"] = f"the check's own server failed ({_describe(error)})"
                return state["broken"]

        return run

    def close() -> None:
        if follower is not None:
            follower.stop.set()
        if relay is not None:
            relay.close()
        scenario.close()
        if follower is not None:
            follower.ended.wait(2)

    checks = [
        Check(
            "live: the first snapshot",
            guarded(first_snapshot, first=True),
            "follow(url, stop): open the feed with httpx_sse.connect_sse and call "
            "self.handle(event) for each event of source.iter_sse()",
        ),
        Check(
            "live: follows changes",
            guarded(follows_changes),
            "keep reading: every stats event is a new snapshot; handle them all",
        ),
        Check(
            "reconnects with Last-Event-ID",
            guarded(resumes),
            "loop until stop is set; catch httpx.HTTPError around one connection and "
            "reconnect with headers={'Last-Event-ID': self.last_event_id}",
        ),
        Check(
            "catches up after the reconnect",
            guarded(catches_up),
            "after reconnecting, handle the events the server replays, as before",
        ),
        Check(
            "reloads after a server restart",
            guarded(reloads_after_restart),
            "a restarted server does not know your id and answers with event: reset, whose "
            "data is a fresh snapshot (and whose id is the one to resume from next)",
        ),
        Check(
            "follow() returns when stop is set",
            guarded(stops),
            "check stop.is_set() after each event and before reconnecting (the check also "
            "closes the connection); pause with stop.wait(delay), not time.sleep",
        ),
    ]
    return checks, close


def check_dashboard(factory: Callable[[int], Dashboard], *, timeout: float = 5.0) -> None:
    """Check a ``Dashboard`` class (called as ``factory(3)``); prints one line per check.

    ``timeout`` is how long the learner's code may take to reflect each change. The check
    starts (and always stops) its own server; it never raises.
    """
    live, close = _live_checks(factory, timeout)
    try:
        run_checks([*_offline_checks(factory), *live])
    finally:
        with contextlib.suppress(Exception):
            close()
