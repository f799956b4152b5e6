"""The official Python tus client (tuspy) against the server, through a relay that cuts the
upload at an exact byte: it resumes from the server's offset and ends byte-identical."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import WAIT, make_user
from tusclient.client import TusClient
from tusclient.exceptions import TusCommunicationError
from tusclient.storage.filestorage import FileStorage

from streamverse.course.exercises.uploads_relay import CuttingRelay
from streamverse.notebook import BackgroundServer
from streamverse.videos.synthetic import write_media

HEAD_ONLY = 0


@pytest.fixture(scope="module")
def song(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """About 2 MB: large enough that a cut mid-way leaves bytes on the server."""
    return write_media(tmp_path_factory.mktemp("media") / "song.wav", 20.0)


@pytest.fixture
def relay(server: BackgroundServer) -> Iterator[CuttingRelay]:
    with CuttingRelay(server.port or 0) as cutting:
        yield cutting


@pytest.fixture
def user(server: BackgroundServer) -> dict[str, str]:
    with httpx.Client(base_url=server.url, timeout=WAIT) as http:
        return make_user(http)[1]


def stored_sha256(server: BackgroundServer, user: dict[str, str], upload_url: str | None) -> str:
    assert upload_url, "the client has no upload URL"
    with httpx.Client(base_url=server.url, timeout=WAIT) as http:
        progress = http.get(f"/uploads/{upload_url.rsplit('/', 1)[1]}", headers=user).json()
        assert progress["state"] == "ready", progress
        return str(http.get(f"/videos/{progress['media_id']}/info").json()["sha256"])


@pytest.mark.parametrize("at", ["head only", 1, 4095, 4096, "two thirds", "all but one", "all"])
def test_tuspy_resumes_after_a_cut_at_any_point(
    server: BackgroundServer, relay: CuttingRelay, user: dict[str, str], song: Path, at: str | int
) -> None:
    size = song.stat().st_size
    points = {"head only": HEAD_ONLY, "two thirds": size * 2 // 3, "all but one": size - 1}
    cut = points.get(at, size) if isinstance(at, str) else at
    relay.cut_after(cut)
    client = TusClient(relay.url + "/uploads/tus/", headers=user)
    # More than one retry: a client that resumes at once may still meet its cut request
    # (the server was reading the bytes that had arrived): a 409, then HEAD again.
    uploader = client.uploader(
        file_path=str(song), chunk_size=size, retries=3, retry_delay=0, metadata={"name": "x"}
    )
    uploader.upload()
    assert relay.cuts == 1
    patches = [seen for seen in relay.seen if seen.method == "PATCH"]
    assert len(patches) >= 2 and patches[0].headers["upload-offset"] == "0"
    resumed_at = int(patches[-1].headers["upload-offset"])
    assert resumed_at <= cut
    if at == "two thirds":
        assert resumed_at > 0  # it resumed; it did not start over
    expected = hashlib.sha256(song.read_bytes()).hexdigest()
    assert stored_sha256(server, user, uploader.url) == expected


def test_tuspy_in_checksummed_chunks(
    server: BackgroundServer, relay: CuttingRelay, user: dict[str, str], song: Path
) -> None:
    relay.cut_after(100_000)  # cut inside the first chunk: its bytes are thrown away
    client = TusClient(relay.url + "/uploads/tus/", headers=user)
    uploader = client.uploader(
        file_path=str(song), chunk_size=512 * 1024, retries=3, retry_delay=0, upload_checksum=True
    )
    uploader.upload()
    patches = [seen for seen in relay.seen if seen.method == "PATCH"]
    assert all(seen.headers["upload-checksum"].startswith("sha1 ") for seen in patches)
    assert patches[1].headers["upload-offset"] == "0"  # a cut checksummed chunk does not count
    expected = hashlib.sha256(song.read_bytes()).hexdigest()
    assert stored_sha256(server, user, uploader.url) == expected


def test_tuspy_picks_up_a_stored_upload_url_in_a_new_run(
    server: BackgroundServer, relay: CuttingRelay, user: dict[str, str], song: Path, tmp_path: Path
) -> None:
    """A client that gave up (no retries) and a new run that finds the URL it stored."""
    storage = FileStorage(str(tmp_path / "tus-urls.json"))
    relay.cut_after(song.stat().st_size // 2)
    client = TusClient(relay.url + "/uploads/tus/", headers=user)
    first = client.uploader(file_path=str(song), store_url=True, url_storage=storage)
    with pytest.raises(TusCommunicationError):
        first.upload()
    again = client.uploader(file_path=str(song), store_url=True, url_storage=storage)
    assert again.url == first.url and again.offset > 0
    again.upload()
    expected = hashlib.sha256(song.read_bytes()).hexdigest()
    assert stored_sha256(server, user, again.url) == expected
    storage.close()
