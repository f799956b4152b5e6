"""Uploads a crash left under way, settled at the next start; live ones never taken for them.

A real crash: the server runs in a child process, its validation (or packaging) made to
hang, and is killed with SIGKILL mid-upload, so its locks go the way a crash's do. A second
server on the same data directory and database starts while the first is alive (it must
leave the first one's uploads alone) and again after the kill (it must settle them).
"""

from __future__ import annotations

import hashlib
import select
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import WAIT, make_user, start_server, wait_until
from sse_client import SSEConnection

from streamverse.config import Settings
from streamverse.uploads import storage
from streamverse.videos import storage as media_storage
from streamverse.videos.synthetic import write_media

TUS = {"Tus-Resumable": "1.0.0"}
BOUNDARY = "streamverse-recovery-boundary"
STOPPED = "the server stopped while {} this upload; upload it again"

CRASHABLE = """
import asyncio, sys, threading
from pathlib import Path

from streamverse.app import create_app
from streamverse.config import Settings
from streamverse.db.base import new_id
from streamverse.notebook import BackgroundServer
from streamverse.videos import service as videos, storage

async def forever(*args, **kwargs):
    await asyncio.Event().wait()

async def moved_then_forever(services, source, *, kind, **kwargs):
    # What add_media does before it records the media: the file moves into media/<id>/.
    target = storage.original_path(services.settings, new_id(), kind)
    target.parent.mkdir(parents=True)
    source.replace(target)
    await forever()

stall = sys.argv[2]
if stall == "validation":
    videos.add_media = forever
elif stall == "moved":
    videos.add_media = moved_then_forever
elif stall == "packaging":
    videos.package_media = forever
server = BackgroundServer(create_app(Settings(data_dir=Path(sys.argv[1]))))
print(server.url, flush=True)
threading.Event().wait()
"""


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return write_media(tmp_path_factory.mktemp("media") / "clip.mp4", 0.5).read_bytes()


class Crashable:
    """A server in a child process whose ``stall`` never ends; ``kill`` crashes it (so
    does leaving the ``with`` block)."""

    def __init__(self, data_dir: Path, stall: str) -> None:
        self.log = (data_dir.parent / f"{data_dir.name}-child.log").open("w")
        command = [sys.executable, "-c", CRASHABLE, str(data_dir), stall]
        self.child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=self.log, text=True)
        assert self.child.stdout is not None
        ready, _, _ = select.select([self.child.stdout], [], [], 30)
        self.url = self.child.stdout.readline().strip() if ready else ""
        assert self.url.startswith("http://"), f"the child server did not start: {self.url}"

    def kill(self) -> None:
        """SIGKILL: no shutdown, no cleanup; the kernel lets its locks go."""
        if self.child.poll() is None:
            self.child.kill()
            self.child.wait(WAIT)
        self.log.close()

    def __enter__(self) -> Crashable:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.kill()


def raw(url: str, method: str, path: str, headers: dict[str, str], body: bytes) -> socket.socket:
    """A request whose answer nobody reads (it may never come)."""
    connection = socket.create_connection(("127.0.0.1", httpx.URL(url).port), timeout=WAIT)
    head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    connection.sendall(f"{method} {path} HTTP/1.1\r\nHost: test\r\n{head}\r\n".encode() + body)
    return connection


def multipart(
    url: str, headers: dict[str, str], data: bytes, declared: int | None = None
) -> tuple[str, socket.socket]:
    """POST /uploads, then ``data`` as the form's file to its upload URL (all of the body,
    or a part of the ``declared`` length); its id and the open socket."""
    with httpx.Client(base_url=url, timeout=WAIT) as http:
        ticket = http.post("/uploads", json={}, headers=headers).json()
    body = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="a.mp4"\r\n'
        "Content-Type: video/mp4\r\n\r\n"
    ).encode() + data
    body += f"\r\n--{BOUNDARY}--\r\n".encode() if declared is None else b""
    sent = {
        **headers,
        "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
        "Content-Length": str(declared or len(body)),
    }
    return str(ticket["id"]), raw(url, "POST", ticket["upload_url"], sent, body)


def tus_create(http: httpx.Client, headers: dict[str, str], length: int) -> str:
    answer = http.post("/uploads/tus/", headers={**TUS, **headers, "Upload-Length": str(length)})
    assert answer.status_code == 201, answer.text
    return str(answer.headers["location"])


def tus_patch_headers(headers: dict[str, str], at: int, length: int) -> dict[str, str]:
    octets = {"Content-Type": "application/offset+octet-stream", "Content-Length": str(length)}
    return {**TUS, **headers, **octets, "Upload-Offset": str(at)}


def state(http: httpx.Client, headers: dict[str, str], upload_id: str) -> dict[str, Any]:
    answer = http.get(f"/uploads/{upload_id}", headers=headers)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def wait_for(http: httpx.Client, headers: dict[str, str], upload_id: str, wanted: str) -> None:
    def reached() -> bool:
        return bool(state(http, headers, upload_id)["state"] == wanted)

    wait_until(reached, what=f"upload {upload_id} {wanted}")


def feed_end(url: str, upload_id: str, **headers: str) -> list[Any]:
    """The feed's events up to its end, as (type, data)."""
    with SSEConnection(f"{url}/uploads/{upload_id}/progress", headers=headers) as feed:
        events = feed.until(lambda event: event.type == "upload_ended")
    return [(event.type, event.json()) for event in events]


def files_of(data_dir: Path) -> list[str]:
    """Everything under the upload directories and the media directory."""
    settings = Settings(data_dir=data_dir)
    roots = (storage.tmp_dir(settings), storage.tus_dir(settings))
    found = [p for root in roots if root.is_dir() for p in root.iterdir()]
    media = media_storage.media_root(settings)
    found += [p for p in media.iterdir()] if media.is_dir() else []
    return sorted(str(p.relative_to(data_dir)) for p in found)


@pytest.mark.parametrize("stall", ["validation", "moved"])
def test_a_crash_while_validating_fails_the_upload_at_the_next_start(
    tmp_path: Path, clip: bytes, stall: str
) -> None:
    """``moved``: the crash comes after the file has moved into media/, before its row
    says so: the pin still tells the other server the upload is live."""
    data = tmp_path / "data"
    settings = Settings(data_dir=data)
    with Crashable(data, stall) as first:
        with httpx.Client(base_url=first.url, timeout=WAIT) as http:
            _, user = make_user(http)
            posted, sent = multipart(first.url, user, clip)
            location = tus_create(http, user, len(clip))
            tus_id = location.rsplit("/", 1)[1]
            patch = tus_patch_headers(user, 0, len(clip))
            patching = raw(first.url, "PATCH", location, patch, clip)
            for upload_id in (posted, tus_id):
                wait_for(http, user, upload_id, "validating")
        with SSEConnection(f"{first.url}/uploads/{posted}/progress") as feed:
            watched = feed.take(1)[0]
        assert watched.json()["state"] == "validating"
        pins = [storage.pin_path(settings, posted), storage.pin_path(settings, tus_id)]
        assert all(pin.exists() for pin in pins)

        other = start_server(data)  # a second server on the same directory and database
        try:
            with httpx.Client(base_url=other.url, timeout=WAIT) as http:
                for upload_id in (posted, tus_id):
                    assert state(http, user, upload_id)["state"] == "validating"
        finally:
            other.stop()
        assert all(pin.exists() for pin in pins)
        first.kill()
        sent.close()
        patching.close()

    restarted = start_server(data)
    try:
        with httpx.Client(base_url=restarted.url, timeout=WAIT) as http:
            for upload_id in (posted, tus_id):
                settled = state(http, user, upload_id)
                assert (settled["state"], settled["reason"]) == (
                    "failed",
                    STOPPED.format("validating"),
                )
            assert http.head(location, headers={**TUS, **user}).status_code == 410
        ended = feed_end(restarted.url, posted)
        assert [kind for kind, _ in ended] == ["progress", "upload_ended"]
        assert ended[0][1]["state"] == "failed"
        assert ended[0][1]["reason"] == STOPPED.format("validating")
        # An EventSource that watched the crashed server reconnects with its last id.
        resumed = feed_end(restarted.url, posted, **{"Last-Event-ID": watched.last_event_id})
        assert resumed[-1][0] == "upload_ended"
        assert [data["state"] for kind, data in resumed if kind == "progress"][-1] == "failed"
    finally:
        restarted.stop()
    assert files_of(data) == []


def test_a_crash_while_receiving_fails_a_multipart_upload_and_a_tus_one_resumes(
    tmp_path: Path, clip: bytes
) -> None:
    data = tmp_path / "data"
    settings = Settings(data_dir=data)
    with Crashable(data, "none") as first:
        with httpx.Client(base_url=first.url, timeout=WAIT) as http:
            _, user = make_user(http)
            posted, connection = multipart(first.url, user, clip[:7000], declared=len(clip) * 10)

            def receiving() -> bool:
                return bool(state(http, user, posted)["received"] >= 7000)

            wait_until(receiving, what="the first server receiving the body")
            location = tus_create(http, user, len(clip))
            patched = http.patch(
                location, content=clip[:7000], headers=tus_patch_headers(user, 0, 7000)
            )
            assert patched.status_code == 204
        other = start_server(data)  # the body is still arriving there: left alone here
        try:
            with httpx.Client(base_url=other.url, timeout=WAIT) as http:
                assert state(http, user, posted)["state"] == "receiving"
        finally:
            other.stop()
        assert storage.temp_path(settings, posted).exists()
        first.kill()
        connection.close()

    restarted = start_server(data)
    try:
        with httpx.Client(base_url=restarted.url, timeout=WAIT) as http:
            settled = state(http, user, posted)
            assert (settled["state"], settled["reason"]) == ("failed", STOPPED.format("receiving"))
            ended = feed_end(restarted.url, posted)
            assert [(kind, data.get("state")) for kind, data in ended] == [
                ("progress", "failed"),
                ("upload_ended", None),
            ]
            assert not storage.temp_path(settings, posted).exists()

            offset = http.head(location, headers={**TUS, **user})
            assert offset.headers["upload-offset"] == "7000"
            rest = clip[7000:]
            patched = http.patch(
                location, content=rest, headers=tus_patch_headers(user, 7000, len(rest))
            )
            assert patched.status_code == 204
            done = state(http, user, location.rsplit("/", 1)[1])
            info = http.get(f"/videos/{done['media_id']}/info").json()
            assert info["sha256"] == hashlib.sha256(clip).hexdigest()
    finally:
        restarted.stop()
    assert not [name for name in files_of(data) if name.startswith("uploads")]


def test_an_upload_left_processing_gets_the_outcome_of_the_packaging_run_again(
    tmp_path: Path, clip: bytes
) -> None:
    data = tmp_path / "data"
    with Crashable(data, "packaging") as first:
        with httpx.Client(base_url=first.url, timeout=WAIT) as http:
            _, user = make_user(http)
            files = {"file": ("clip.mp4", clip, "video/mp4")}
            stored = http.post("/streams/upload-with-progress/", files=files, headers=user)
            assert stored.status_code == 201, stored.text
            upload_id = stored.json()["upload_id"]
            assert state(http, user, upload_id)["state"] == "processing"
        first.kill()

    restarted = start_server(data)
    try:
        with httpx.Client(base_url=restarted.url, timeout=WAIT) as http:
            ended = feed_end(restarted.url, upload_id)
            assert ended[-1][0] == "upload_ended"
            last = [data for kind, data in ended if kind == "progress"][-1]
            assert (last["state"], last["media_id"]) == ("ready", stored.json()["id"])
            assert state(http, user, upload_id)["state"] == "ready"
            assert http.get(f"/videos/{last['media_id']}/info").json()["status"] == "ready"
    finally:
        restarted.stop()
