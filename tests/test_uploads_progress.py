"""Upload progress, live: the SSE feed (resumable with Last-Event-ID), the same events on a
WebSocket (the uploader only), throttled, ending with the final state."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack
from itertools import groupby
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import WAIT, make_user, start_server, wait_until
from sse_client import SSEConnection, SSEEvent
from websockets.exceptions import ConnectionClosedError, ConnectionClosedOK
from websockets.sync.client import connect

from streamverse.notebook import BackgroundServer
from streamverse.videos.synthetic import write_media


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_media(tmp_path_factory.mktemp("media") / "clip.mp4", 0.5)


@pytest.fixture(scope="module")
def song(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An audio file of a few megabytes: many chunks on the wire."""
    return write_media(tmp_path_factory.mktemp("media") / "song.wav", 20.0)


@pytest.fixture
def http(server: BackgroundServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=WAIT) as client:
        yield client


def upload(http: httpx.Client, url: str, path: Path, headers: dict[str, str]) -> httpx.Response:
    files = {"file": (path.name, path.read_bytes(), "application/octet-stream")}
    return http.post(url, files=files, data={"title": "Clip"}, headers=headers)


def states(events: list[SSEEvent]) -> list[str]:
    """The states the progress events went through, each once in a row."""
    seen = [event.json()["state"] for event in events if event.type == "progress"]
    return [state for state, _ in groupby(seen)]


def test_the_feed_follows_an_upload_from_created_to_ready(
    http: httpx.Client, server: BackgroundServer, clip: Path
) -> None:
    _, headers = make_user(http)
    ticket = http.post("/uploads", json={}, headers=headers).json()
    with SSEConnection(server.url + ticket["progress_url"]) as feed:
        first = feed.take(1)[0]
        assert (first.type, first.json()["state"]) == ("progress", "created")
        result = upload(http, ticket["upload_url"], clip, headers)
        assert result.status_code == 201, result.text
        events = [first, *feed.until(lambda event: event.type == "upload_ended")]
    assert states(events) == ["created", "receiving", "validating", "processing", "ready"]
    last = [event.json() for event in events if event.type == "progress"][-1]
    assert last["media_id"] == result.json()["id"]
    assert (last["percent"], last["processed"]) == (100.0, 1.0)
    assert events[-1].json() == {"upload_id": ticket["id"]}
    ids = [int(event.last_event_id) for event in events]
    assert ids == sorted(ids)

    # Resume from the third event: exactly what came after it, then the end.
    resume_from = events[2]
    headers_resume = {"Last-Event-ID": resume_from.last_event_id}
    with SSEConnection(server.url + ticket["progress_url"], headers=headers_resume) as again:
        rest = again.until(lambda event: event.type == "upload_ended")
    assert [(e.type, e.data) for e in rest] == [(e.type, e.data) for e in events[3:]]

    # A finished upload's feed: its final snapshot, then the end.
    with SSEConnection(server.url + ticket["progress_url"]) as late:
        done = late.until(lambda event: event.type == "upload_ended")
    assert [event.type for event in done] == ["progress", "upload_ended"]
    assert done[0].json()["state"] == "ready"


def test_a_refused_upload_ends_its_feed_with_the_reason(
    http: httpx.Client, server: BackgroundServer
) -> None:
    _, headers = make_user(http)
    ticket = http.post("/uploads", json={}, headers=headers).json()
    with SSEConnection(server.url + ticket["progress_url"]) as feed:
        files = {"file": ("movie.mp4", b"not a video at all" * 300, "video/mp4")}
        assert http.post(ticket["upload_url"], files=files, headers=headers).status_code == 415
        events = feed.until(lambda event: event.type == "upload_ended")
    assert states(events) == ["created", "receiving", "failed"]
    assert "not an allowed format" in events[-2].json()["reason"]


def test_progress_events_are_throttled_not_one_per_chunk(tmp_path: Path, song: Path) -> None:
    """With an hour between events, a body of many chunks gives two byte counts: at the
    start and when the last byte is in (state changes always go out)."""
    server = start_server(tmp_path, upload_progress_interval_seconds=3600)
    try:
        with httpx.Client(base_url=server.url, timeout=WAIT) as http:
            _, headers = make_user(http)
            ticket = http.post("/uploads", json={}, headers=headers).json()
            with SSEConnection(server.url + ticket["progress_url"]) as feed:
                feed.take(1)
                assert upload(http, ticket["upload_url"], song, headers).status_code == 201
                events = feed.until(lambda event: event.type == "upload_ended")
    finally:
        server.stop()
    assert song.stat().st_size > 20 * 65536  # dozens of chunks at the very least
    receiving = [
        e.json() for e in events if e.type == "progress" and e.json()["state"] == "receiving"
    ]
    assert [event["received"] for event in receiving] == [0, receiving[-1]["total"]]


def test_an_unknown_upload_has_no_feed(server: BackgroundServer) -> None:
    with httpx.Client(base_url=server.url, timeout=WAIT) as http:
        assert http.get(f"/uploads/{'0' * 32}/progress").status_code == 404
        assert http.get("/uploads/not-an-id/progress").status_code == 404


class Socket:
    """A progress WebSocket read in a thread, so it can be opened before the upload."""

    def __init__(self, server: BackgroundServer, upload_id: str, first: dict[str, Any]):
        url = f"{server.ws_url}/uploads/{upload_id}/progress/ws"
        self._stack = ExitStack()
        self.socket = self._stack.enter_context(connect(url, open_timeout=WAIT, close_timeout=WAIT))
        self.socket.send(json.dumps(first))

    def first(self) -> Any:
        return json.loads(self.socket.recv(timeout=WAIT))

    def rest(self) -> list[Any]:
        """Every message until the server closes the socket."""
        messages = []
        try:
            while True:
                messages.append(json.loads(self.socket.recv(timeout=WAIT)))
        except (ConnectionClosedOK, ConnectionClosedError):
            return messages
        finally:
            self._stack.close()

    @property
    def close_code(self) -> int | None:
        return self.socket.close_code


def test_the_websocket_carries_the_same_events_to_the_uploader_only(
    http: httpx.Client, server: BackgroundServer, clip: Path
) -> None:
    ada, headers = make_user(http, "ada")
    bob, _ = make_user(http, "bob")
    ticket = http.post("/uploads", json={}, headers=headers).json()
    socket = Socket(server, ticket["id"], {"type": "auth", "token": ada["token"]})
    with SSEConnection(server.url + ticket["progress_url"]) as feed:
        created = feed.take(1)
        assert socket.first()["data"]["state"] == "created"
        assert upload(http, ticket["upload_url"], clip, headers).status_code == 201
        sse = feed.until(lambda event: event.type == "upload_ended")
    messages = socket.rest()
    assert socket.close_code == 1000
    assert [(m["type"], m["id"], m["data"]) for m in messages] == [
        (e.type, int(e.last_event_id), e.json()) for e in sse
    ]
    assert created[0].json()["state"] == "created"

    resume = {"type": "auth", "token": ada["token"], "last_event_id": messages[0]["id"]}
    assert Socket(server, ticket["id"], resume).rest() == messages[1:]

    refusals = [
        ({"type": "auth", "token": bob["token"]}, 4404),
        ({"type": "hi"}, 4400),
        ({"type": "auth", "token": 123}, 4400),
        ({"type": "auth"}, 4401),
    ]
    for first, code in refusals:
        refused = Socket(server, ticket["id"], first)
        with pytest.raises(ConnectionClosedError):
            refused.first()
        refused.rest()
        assert refused.close_code == code


def test_a_socket_that_sends_binary_or_leaves_before_signing_in_logs_no_error(
    http: httpx.Client, server: BackgroundServer
) -> None:
    _, headers = make_user(http, "ada")
    url = f"{server.ws_url}/uploads/{http.post('/uploads', json={}, headers=headers).json()['id']}"
    assert server._server is not None
    connections = server._server.server_state.connections
    before = len(connections)
    with connect(f"{url}/progress/ws", open_timeout=WAIT) as binary:
        binary.send(b"\x00")
        with pytest.raises(ConnectionClosedError):
            binary.recv(timeout=WAIT)
        assert binary.close_code == 4400
    with connect(f"{url}/progress/ws", open_timeout=WAIT):
        pass  # leaves without a word
    wait_until(lambda: len(connections) <= before, what="both handlers to end")
    assert not [line for line in server.logs() if "Exception" in line or "Traceback" in line]
