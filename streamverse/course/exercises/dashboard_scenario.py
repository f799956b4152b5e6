"""The dashboard check's world: a real server with four live streams, viewers on cue,
a restart, and the check's own view of the global-stats feed (read with the spec parser).
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from ...app import create_app
from ...config import Settings
from ...notebook import BackgroundServer
from ..sse_spec import SSEParser
from .platform import SetupError, ok

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
# Score = viewers + 0.5 * comments per minute + 0.1 * likes (streamverse.analytics.trending).
PHASES: dict[str, tuple[dict[str, int], list[str]]] = {
    "start": ({SPEEDRUN: 2, LOFI: 1}, [SPEEDRUN, LOFI, CHESS]),
    "update": ({PASTA: 3}, [PASTA, SPEEDRUN, LOFI]),
    "offline": ({LOFI: 3}, [LOFI, PASTA, SPEEDRUN]),
    # The viewers left with the old server, whose last event said CHESS, PASTA, SPEEDRUN;
    # one joins the new server before the client gets back, so only its reset shows this:
    "restart": ({SPEEDRUN: 1}, [SPEEDRUN, CHESS, PASTA]),
    "after": ({LOFI: 1}, [SPEEDRUN, LOFI, CHESS]),
}
"""Viewers that join in each phase, and the top 3 that results (no ties anywhere)."""


class ServerFeed:
    """The check's own connection to the global-stats feed, read on demand.

    Read with the course's spec parser; the keep-alive comments (every 0.5 s) arrive as
    chunks of their own, so the reader looks at its deadline even while no event comes.
    """

    def __init__(self, base_url: str) -> None:
        self._client = httpx.Client(base_url=base_url, timeout=httpx.Timeout(10.0, read=5.0))
        self._response = self._client.send(self._client.build_request("GET", FEED), stream=True)
        self._chunks = self._response.iter_text()
        self._parser = SSEParser()

    def wait_top(self, expected: list[str], timeout: float = SETUP_TIMEOUT) -> int:
        """Read until an event's top titles are ``expected``; return that event's id."""
        deadline = time.monotonic() + timeout
        last: list[str] | None = None
        for chunk in self._chunks:
            for event in self._parser.feed(chunk):
                if event.type in ("stats", "reset"):
                    last = titles(event.json())
                    if last == expected:
                        return int(event.last_event_id)
            if time.monotonic() > deadline:
                break
        raise SetupError(f"the server's own feed showed {last!r}, never {expected!r}")

    def close(self) -> None:
        self._response.close()
        self._client.close()


def titles(stats: dict[str, Any]) -> list[str]:
    return [stream["title"] for stream in stats["trending"][:TOP_N]]


class Scenario:
    """A real server with four live streams; viewers, likes and a restart on cue."""

    def __init__(self) -> None:
        self.data_dir = tempfile.mkdtemp(prefix="streamverse-dashboard-check-")
        self.server: BackgroundServer | None = None
        self.http: httpx.Client | None = None
        self.feed: ServerFeed | None = None
        self.viewers: list[httpx.Response] = []
        self.streams: dict[str, str] = {}

    def start_server(self) -> BackgroundServer:
        settings = Settings(data_dir=Path(self.data_dir), **SERVER_SETTINGS)
        self.server = BackgroundServer(create_app(settings))
        self.http = httpx.Client(base_url=self.server.url, timeout=10.0)
        return self.server

    def populate(self) -> None:
        http = self._http()
        host = self._user("host")
        for title, category in STREAMS.items():
            body = {"title": title, "category": category}
            stream = ok(http.post("/streams/create", json=body, headers=host))
            self.streams[title] = stream["id"]
            path = f"/streams/{stream['id']}/status"
            ok(http.put(path, json={"status": "live"}, headers=host))
        fans = [self._user(f"fan{number}") for number in range(max(LIKES.values()))]
        for title, likes in LIKES.items():
            for fan in fans[:likes]:
                ok(http.post(f"/streams/{self.streams[title]}/likes", headers=fan))

    def open_feed(self) -> None:
        assert self.server is not None
        self.feed = ServerFeed(self.server.url)

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
        database: streams and likes survive; the new broker's ids start from the clock, above
        every id the old one gave out, so a client resuming with an old id gets a reset."""
        self.close_connections()
        if self.server is not None:
            self.server.stop()
        return self.start_server()

    def _watch(self, stream_id: str) -> None:
        http = self._http()
        request = http.build_request("GET", f"/streams/{stream_id}/comments/live")
        self.viewers.append(http.send(request, stream=True))

    def _user(self, name: str) -> dict[str, str]:
        user = ok(self._http().post("/users", json={"name": name}))
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
