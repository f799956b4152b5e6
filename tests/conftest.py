"""Shared fixtures: real uvicorn servers on loopback and real httpx clients talking to them.

``server`` is one app per test module (fresh data directory); ``server_factory`` starts
extra servers with their own settings for tests that need isolation. Helpers that create
users and streams are plain functions, also offered as fixtures so tests need no imports.
"""

from __future__ import annotations

import contextlib
import json
import queue
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from streamverse.app import create_app
from streamverse.config import Settings
from streamverse.notebook import BackgroundServer

WAIT = 10.0
"""Seconds a test waits for something that should happen almost at once (then it fails)."""

FEED_TIMEOUT = httpx.Timeout(10.0, read=60.0)
"""Live feeds are quiet between events, so reads may wait longer than a normal request."""


def start_server(data_dir: Path, **settings: Any) -> BackgroundServer:
    """A real uvicorn on 127.0.0.1 (free port) serving a fresh app with its own data dir."""
    return BackgroundServer(create_app(Settings(data_dir=data_dir, **settings)))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BackgroundServer]:
    """One running app per test module. Its app object is ``server.app``."""
    background = start_server(tmp_path_factory.mktemp("data"))
    try:
        yield background
    finally:
        background.stop()


@pytest.fixture
def server_factory(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Callable[..., BackgroundServer]]:
    """Start servers with custom settings (``server_factory(recent_comments=3)``); all are
    stopped when the test ends."""
    started: list[BackgroundServer] = []

    def factory(**settings: Any) -> BackgroundServer:
        background = start_server(tmp_path_factory.mktemp("data"), **settings)
        started.append(background)
        return background

    yield factory
    for background in started:
        background.stop()


@pytest.fixture
def client(server: BackgroundServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=WAIT) as http:
        yield http


def auth(user: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {user['token']}"}


def make_user(client: httpx.Client, name: str = "ada") -> tuple[dict[str, Any], dict[str, str]]:
    """Create a user; returns its JSON (with the token) and the headers that authenticate it."""
    response = client.post("/users", json={"name": name})
    assert response.status_code == 201, response.text
    user = response.json()
    return user, auth(user)


def make_stream(
    client: httpx.Client,
    headers: dict[str, str],
    title: str = "Speedrun practice",
    category: str = "gaming",
    description: str = "",
    status: str = "scheduled",
) -> dict[str, Any]:
    """Create a stream owned by ``headers``' user and move it forward to ``status``."""
    body = {"title": title, "category": category, "description": description}
    response = client.post("/streams/create", json=body, headers=headers)
    assert response.status_code == 201, response.text
    stream = response.json()
    path = ["scheduled", "live", "ended"]
    for step in path[1 : path.index(status) + 1]:
        stream = set_status(client, headers, stream["id"], step)
    return stream


def set_status(
    client: httpx.Client, headers: dict[str, str], stream_id: str, status: str
) -> dict[str, Any]:
    response = client.put(f"/streams/{stream_id}/status", json={"status": status}, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == status
    return response.json()


def post_comment(
    client: httpx.Client, headers: dict[str, str], stream_id: str, text: str
) -> dict[str, Any]:
    response = client.post(f"/streams/{stream_id}/comments", json={"text": text}, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


@pytest.fixture(name="make_user")
def make_user_fixture() -> Callable[..., tuple[dict[str, Any], dict[str, str]]]:
    return make_user


@pytest.fixture(name="make_stream")
def make_stream_fixture() -> Callable[..., dict[str, Any]]:
    return make_stream


@pytest.fixture(name="set_status")
def set_status_fixture() -> Callable[..., dict[str, Any]]:
    return set_status


@pytest.fixture(name="post_comment")
def post_comment_fixture() -> Callable[..., dict[str, Any]]:
    return post_comment


def wait_until(condition: Callable[[], bool], timeout: float = WAIT, what: str = "") -> None:
    """Poll ``condition`` until it holds; fail the test if it does not within ``timeout``."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what or condition}")
        time.sleep(0.01)


@pytest.fixture(name="wait_until")
def wait_until_fixture() -> Callable[..., None]:
    return wait_until


class FeedReader:
    """Reads a streaming response line by line in a thread and hands the lines over a queue.

    The test thread stays free to post, end streams and assert, and waits for each line with
    a deadline (``next()``), never with a sleep. ``status``/``headers`` are set once the
    response head has arrived; the queue ends with ``FeedReader.EOF`` when the body ends.
    """

    EOF = object()

    def __init__(
        self, base_url: str, path: str, params: dict[str, Any] | None = None, **kwargs: Any
    ) -> None:
        self.lines: queue.Queue[Any] = queue.Queue()
        self.connected = threading.Event()
        self.status: int | None = None
        self.headers: httpx.Headers | None = None
        self._socket: socket.socket | None = None
        self._client = httpx.Client(base_url=base_url, timeout=FEED_TIMEOUT)
        self._request = (path, params, kwargs)
        self._thread = threading.Thread(target=self._read, daemon=True, name=f"reader {path}")
        self._thread.start()

    def _read(self) -> None:
        path, params, kwargs = self._request
        try:
            with self._client.stream("GET", path, params=params, **kwargs) as response:
                self.status, self.headers = response.status_code, response.headers
                stream = response.extensions["network_stream"]
                self._socket = stream.get_extra_info("socket")
                self.connected.set()
                for line in response.iter_lines():
                    if line:
                        self.lines.put(line)
        except Exception as error:  # handed to the test thread, which fails with it
            self.lines.put(error)
        finally:
            self.connected.set()
            self.lines.put(self.EOF)

    def wait_connected(self, timeout: float = WAIT) -> None:
        assert self.connected.wait(timeout), "no response head from the live feed"

    def next(self, timeout: float = WAIT) -> Any:
        """The next raw line (str), or ``EOF``; an exception in the reader is re-raised."""
        try:
            item = self.lines.get(timeout=timeout)
        except queue.Empty:
            pytest.fail(f"no line from the feed within {timeout} s")
        if isinstance(item, Exception):
            raise item
        return item

    def next_message(self, timeout: float = WAIT, skip_keepalive: bool = True) -> Any:
        """The next NDJSON object (keep-alive lines skipped), or ``EOF``."""
        while True:
            line = self.next(timeout)
            if line is self.EOF:
                return line
            message = json.loads(line)
            if not (skip_keepalive and message.get("type") == "keepalive"):
                return message

    def rest(self, timeout: float = WAIT) -> list[Any]:
        """Every remaining NDJSON object up to the end of the body (EOF not included)."""
        messages = []
        while (message := self.next_message(timeout)) is not self.EOF:
            messages.append(message)
        return messages

    def join(self, timeout: float = WAIT) -> None:
        """Wait for the body to end (the feed finished by itself)."""
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "the reader thread is still reading"
        self._client.close()

    def close(self) -> None:
        """Drop the connection now, as a viewer closing the tab does; the reader then ends.

        The socket is shut down rather than the client closed: closing an httpx client from
        another thread does not interrupt a read in progress.
        """
        self.connected.wait(WAIT)
        if self._socket is not None:
            with contextlib.suppress(OSError):
                self._socket.shutdown(socket.SHUT_RDWR)
        self._thread.join(WAIT)
        self._client.close()


@pytest.fixture
def open_feed() -> Iterator[Callable[..., FeedReader]]:
    """Open a streaming GET read by a background thread: ``open_feed(server.url, path)``."""
    readers: list[FeedReader] = []

    def opener(base_url: str, path: str, params: dict[str, Any] | None = None, **kw: Any):
        reader = FeedReader(base_url, path, params, **kw)
        readers.append(reader)
        return reader

    yield opener
    for reader in readers:
        reader.close()
