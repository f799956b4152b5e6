"""HLS: a video added becomes a playlist whose segments decode, served with the right types
and cache headers, 404 (not cached) until ready; names never escape the media directory;
packaging failures, shutdown and restarts leave the row and the disk in a known state."""

from __future__ import annotations

import asyncio
import io
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import httpx
import pytest
from conftest import make_user, start_server, wait_until

from streamverse.errors import NotFound
from streamverse.notebook import BackgroundServer
from streamverse.services import services_of
from streamverse.users.schemas import User
from streamverse.videos import demo, hls, service, storage
from streamverse.videos.schemas import MediaKind
from streamverse.videos.synthetic import write_media
from streamverse.videos.tasks import packaging_of

SECONDS, FPS = 3.0, 24


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_media(tmp_path_factory.mktemp("media") / "clip.mp4", SECONDS, fps=FPS)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BackgroundServer]:
    background = start_server(tmp_path_factory.mktemp("data"), media_hls_segment_seconds=1.0)
    yield background
    background.stop()


@pytest.fixture(scope="module")
def owner(site: BackgroundServer) -> User:
    with httpx.Client(base_url=site.url) as http:
        return User.model_validate(make_user(http, "ada")[0])


class Reports:
    """What ``add_media`` reported, recorded on the server's loop, read by the test."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, float | None, str | None]] = []

    async def __call__(self, state: str, fraction: float | None, reason: str | None) -> None:
        self.seen.append((state, fraction, reason))

    def states(self) -> list[str]:
        return [state for state, _, _ in self.seen]


def add(server: BackgroundServer, owner: User, path: Path, report: Any = None) -> dict:
    media = server.call(demo.add_file(services_of(server.app), owner, path, report=report))
    return media.model_dump(mode="json")


def packaged(server: BackgroundServer, media_id: str) -> dict:
    media = server.call(service.wait_packaged(services_of(server.app), media_id), timeout=60)
    return media.model_dump(mode="json")


@pytest.fixture(scope="module")
def video(site: BackgroundServer, owner: User, clip: Path) -> dict:
    return packaged(site, add(site, owner, clip)["id"])


def test_packaging_reports_processing_then_ready(site, owner, clip) -> None:
    reports = Reports()
    media = add(site, owner, clip, report=reports)
    assert media["status"] == "processing"

    done = packaged(site, media["id"])

    assert done["status"] == "ready"
    assert done["hls_url"] == f"/videos/{media['id']}/hls/index.m3u8"
    states = reports.states()
    assert states[0] == "processing" and states[-1] == "ready"
    assert set(states[:-1]) == {"processing"}
    fractions = [fraction for _, fraction, _ in reports.seen if fraction is not None]
    assert len(fractions) == len(reports.seen)
    assert fractions == sorted(fractions) and fractions[-1] == 1.0


def test_the_playlist_lists_segments_that_decode(site, video) -> None:
    with httpx.Client(base_url=site.url, timeout=10) as http:
        playlist = http.get(video["hls_url"])
        assert playlist.status_code == 200
        assert playlist.headers["content-type"] == "application/vnd.apple.mpegurl"
        assert playlist.headers["cache-control"] == "no-cache"
        lines = playlist.text.splitlines()
        assert lines[0] == "#EXTM3U" and lines[-1] == "#EXT-X-ENDLIST"
        assert "#EXT-X-PLAYLIST-TYPE:VOD" in lines
        segments = [line for line in lines if line and not line.startswith("#")]
        assert len(segments) >= 2
        frames = 0
        for name in segments:
            segment = http.get(f"/videos/{video['id']}/hls/{name}")
            assert segment.status_code == 200
            assert segment.headers["content-type"] == "video/mp2t"
            assert segment.headers["cache-control"] == "public, max-age=31536000, immutable"
            with av.open(io.BytesIO(segment.content), "r") as container:
                assert container.streams.audio, f"{name} has no audio"
                frames += sum(1 for _ in container.decode(video=0))
    assert frames == SECONDS * FPS


def test_segments_answer_ranges_too(site, video) -> None:
    with httpx.Client(base_url=site.url, timeout=10) as http:
        url = f"/videos/{video['id']}/hls/seg_00000.ts"
        whole = http.get(url).content
        part = http.get(url, headers={"Range": "bytes=188-375"})  # the second TS packet
    assert part.status_code == 206
    assert part.content == whole[188:376]


@pytest.mark.parametrize(
    "name",
    [
        "original.mp4",
        "..%2Foriginal.mp4",
        "..%2F..%2Fstreamverse.db",
        "%2e%2e",
        "seg_0.ts",
        "seg_00000.ts%00",
        "seg_00099.ts",
        "INDEX.M3U8",
        "index.m3u8.bak",
    ],
)
def test_no_name_reaches_outside_the_hls_directory(site, video, name) -> None:
    with httpx.Client(base_url=site.url, timeout=10) as http:
        response = http.get(f"/videos/{video['id']}/hls/{name}")
    assert response.status_code == 404
    assert "not found" in response.json()["detail"].lower()


def test_the_hls_names_are_checked_before_any_path_is_built(tmp_path) -> None:
    from streamverse.config import Settings

    settings = Settings(data_dir=tmp_path)
    for name in ("../x", "seg_00000.ts/../../x", "/etc/passwd", "seg_00000.ts\0"):
        with pytest.raises(NotFound):
            storage.hls_file(settings, "0123456789abcdef", name)
    with pytest.raises(NotFound):
        storage.media_dir(settings, "../0123456789abcdef")


def test_until_ready_the_playlist_is_404_and_not_cached(site, owner, clip) -> None:
    slots = packaging_of(services_of(site.app)).slots
    site.call(slots.acquire())  # packaging waits for a free slot: hold the only one
    try:
        media = add(site, owner, clip)
        with httpx.Client(base_url=site.url, timeout=10) as http:
            waiting = http.get(f"/videos/{media['id']}/hls/index.m3u8")
            original = http.get(media["url"], headers={"Range": "bytes=0-3"})
    finally:
        site.call(_release(slots))
    assert waiting.status_code == 404
    assert waiting.headers["cache-control"] == "no-store"
    assert waiting.json()["detail"].endswith("is not ready: processing")
    assert original.status_code == 206  # the original plays meanwhile
    assert packaged(site, media["id"])["status"] == "ready"


async def _release(slots: asyncio.Semaphore) -> None:
    slots.release()


def test_audio_has_no_hls_version(site, owner, tmp_path) -> None:
    media = add(site, owner, write_media(tmp_path / "tone.m4a", 0.5))
    assert (media["status"], media["hls_url"]) == ("ready", None)
    with httpx.Client(base_url=site.url, timeout=10) as http:
        assert http.get(f"/videos/{media['id']}/hls/index.m3u8").status_code == 404


def test_a_packaging_failure_is_reported_with_its_reason(site, owner, clip, monkeypatch) -> None:
    def broken(*args: Any, **kwargs: Any) -> None:
        raise hls.PackagingError("FFmpeg could not package it: simulated")

    monkeypatch.setattr(hls, "package", broken)
    reports = Reports()
    media = packaged(site, add(site, owner, clip, report=reports)["id"])

    assert (media["status"], media["reason"]) == (
        "failed",
        "FFmpeg could not package it: simulated",
    )
    assert reports.seen[-1] == ("failed", None, "FFmpeg could not package it: simulated")
    directory = storage.media_dir(services_of(site.app).settings, media["id"])
    assert sorted(path.name for path in directory.iterdir()) == ["original.mp4"]


def test_shutdown_stops_packaging_and_a_restart_finishes_it(tmp_path, clip, monkeypatch) -> None:
    """The worker thread sees ``stop`` at shutdown; the row stays processing, the partial
    output goes, an orphan directory goes at the next start, which packages the video."""
    started, stopped = threading.Event(), threading.Event()
    real = hls.package

    def blocking(*args: Any, stop: threading.Event, **kwargs: Any) -> None:
        started.set()
        stop.wait(30)
        stopped.set()
        raise hls.PackagingStopped

    monkeypatch.setattr(hls, "package", blocking)
    first = start_server(tmp_path)
    try:
        with httpx.Client(base_url=first.url) as http:
            owner = User.model_validate(make_user(http, "ada")[0])
        media = add(first, owner, clip)
        assert started.wait(10)
    finally:
        first.stop()
    assert stopped.is_set()
    root = tmp_path / "media"
    assert sorted(path.name for path in (root / media["id"]).iterdir()) == ["original.mp4"]
    (root / "0123456789abcdef").mkdir()  # as a crash between the move and the insert leaves

    monkeypatch.setattr(hls, "package", real)
    second = start_server(tmp_path)
    try:
        with httpx.Client(base_url=second.url, timeout=10) as http:
            wait_until(
                lambda: http.get(f"/videos/{media['id']}/info").json()["status"] == "ready",
                timeout=60,
                what="the restarted server to package the video",
            )
            assert http.get(f"/videos/{media['id']}/hls/index.m3u8").status_code == 200
    finally:
        second.stop()
    assert sorted(path.name for path in root.iterdir()) == [media["id"]]


def test_a_video_interrupted_too_often_is_marked_failed(tmp_path, clip, monkeypatch) -> None:
    def blocking(*args: Any, stop: threading.Event, **kwargs: Any) -> None:
        stop.wait(30)
        raise hls.PackagingStopped

    monkeypatch.setattr(hls, "package", blocking)
    media_id: str | None = None
    for _ in range(2):  # media_packaging_attempts=2: two runs start, both are cut short
        server = start_server(tmp_path, media_packaging_attempts=2)
        try:
            if media_id is None:
                with httpx.Client(base_url=server.url) as http:
                    owner = User.model_validate(make_user(http, "ada")[0])
                media_id = add(server, owner, clip)["id"]

            def packaging_runs(m: str | None = media_id, s: BackgroundServer = server) -> bool:
                return m in packaging_of(services_of(s.app)).running()

            wait_until(packaging_runs, what="packaging to run")
        finally:
            server.stop()
    last = start_server(tmp_path, media_packaging_attempts=2)
    try:
        with httpx.Client(base_url=last.url, timeout=10) as http:
            record = http.get(f"/videos/{media_id}/info").json()
    finally:
        last.stop()
    assert (record["status"], record["reason"]) == ("failed", "packaging was interrupted 2 times")


def test_an_undecodable_file_is_415_and_stays_where_it_was(site, owner, tmp_path) -> None:
    services = services_of(site.app)
    fake = services.settings.data_dir / "movie.mp4"
    fake.write_text("not a movie at all")
    webm = write_media(services.settings.data_dir / "really.webm", 0.5)
    sound = write_media(services.settings.data_dir / "sound.webm", 0.5, video=False)
    before = sorted(path.name for path in storage.media_root(services.settings).iterdir())
    cases = [
        (fake, MediaKind.mp4, "not a playable mp4 file: it does not decode as media"),
        (webm, MediaKind.mp4, "not a playable mp4 file: the content is matroska, not mp4"),
        (sound, MediaKind.webm, "not a playable webm file: the webm file has no video stream"),
    ]
    for source, kind, reason in cases:
        with pytest.raises(service.UnsupportedMedia) as refused:
            site.call(
                service.add_media(
                    services,
                    source,
                    owner=owner,
                    kind=kind,
                    title="x",
                    description="",
                    original_name=source.name,
                    sha256="0" * 64,
                    size=source.stat().st_size,
                )
            )
        assert refused.value.status == 415
        assert refused.value.detail.startswith(reason)
        assert source.exists()
    after = sorted(path.name for path in storage.media_root(services.settings).iterdir())
    assert after == before
