"""Playback of stored media over real sockets: every Range answer is compared byte for byte
with the file on disk; the list pages without overlaps; names never escape the media dir."""

from __future__ import annotations

import re
from collections.abc import Iterator
from email.utils import formatdate
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import make_user
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streamverse.notebook import BackgroundServer
from streamverse.services import services_of
from streamverse.users.schemas import User
from streamverse.videos import demo
from streamverse.videos.synthetic import write_media


@pytest.fixture(scope="module")
def owner(server: BackgroundServer) -> User:
    with httpx.Client(base_url=server.url) as http:
        user, _ = make_user(http, "ada")
    return User.model_validate(user)


def add(server: BackgroundServer, owner: User, path: Path, **options: Any) -> dict[str, Any]:
    """Put a file in place through the service, as an upload would; its record as JSON."""
    media = server.call(demo.add_file(services_of(server.app), owner, path, **options))
    return media.model_dump(mode="json")


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_media(tmp_path_factory.mktemp("media") / "clip.mp4", 2.0)


@pytest.fixture(scope="module")
def video(server: BackgroundServer, owner: User, clip: Path) -> dict[str, Any]:
    return add(server, owner, clip, title="A clip")


@pytest.fixture
def http(server: BackgroundServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=10) as client:
        yield client


def get(http: httpx.Client, path: str, **headers: str) -> httpx.Response:
    return http.get(path, headers=headers)


def test_the_whole_file_with_its_type_and_range_support(http, video, clip) -> None:
    response = get(http, video["url"])

    assert response.status_code == 200
    assert response.content == clip.read_bytes()
    assert response.headers["content-type"] == "video/mp4"
    assert response.headers["accept-ranges"] == "bytes"
    assert response.headers["content-length"] == str(clip.stat().st_size)
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["etag"] and response.headers["last-modified"]
    assert response.headers["content-disposition"] == 'inline; filename="clip.mp4"'


@pytest.mark.parametrize(
    ("header", "start", "stop"),
    [
        ("bytes=0-99", 0, 100),
        ("bytes=100-", 100, None),
        ("bytes=-100", -100, None),
        ("bytes=0-0", 0, 1),
        ("bytes=10-999999999", 10, None),  # an end past the file is the end of the file
        ("bytes=-999999999", 0, None),  # a suffix longer than the file is the whole file
        ("bytes = 5 - 9", 5, 10),
    ],
)
def test_a_single_range_is_206_with_exactly_those_bytes(
    http, video, clip, header, start, stop
) -> None:
    data = clip.read_bytes()
    expected = data[start:stop]
    first = data.index(expected) if start < 0 else start

    response = get(http, video["url"], Range=header)

    assert response.status_code == 206
    assert response.content == expected
    assert response.headers["content-range"] == (
        f"bytes {first}-{first + len(expected) - 1}/{len(data)}"
    )
    assert response.headers["content-length"] == str(len(expected))
    assert response.headers["content-type"] == "video/mp4"


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_any_satisfiable_range_gives_the_same_bytes_as_the_file(http, video, clip, data) -> None:
    content = clip.read_bytes()
    start = data.draw(st.integers(0, len(content) - 1), label="start")
    end = data.draw(st.integers(start, len(content) + 100), label="end")

    response = get(http, video["url"], Range=f"bytes={start}-{end}")

    assert response.status_code == 206
    assert response.content == content[start : end + 1]


def test_several_ranges_come_as_multipart_byteranges(http, video, clip) -> None:
    data = clip.read_bytes()
    response = get(http, video["url"], Range="bytes=0-9, 20-29, 25-34")

    assert response.status_code == 206
    kind, _, boundary = response.headers["content-type"].partition("; boundary=")
    assert kind == "multipart/byteranges"
    parts = response.content.split(b"--" + boundary.encode())
    bodies = [part.split(b"\r\n\r\n", 1) for part in parts if part.strip(b"-\r\n")]
    ranges = [re.search(rb"Content-Range: bytes (\d+)-(\d+)/(\d+)", head) for head, _ in bodies]
    assert [match.groups() for match in ranges if match] == [
        (b"0", b"9", str(len(data)).encode()),
        (b"20", b"34", str(len(data)).encode()),  # overlapping ranges merged
    ]
    assert [body.removesuffix(b"\r\n") for _, body in bodies] == [data[0:10], data[20:35]]


@pytest.mark.parametrize("header", ["bytes={size}-", "bytes={size}-{later}", "bytes=-0"])
def test_a_range_past_the_end_is_416_with_the_length(http, video, clip, header) -> None:
    size = clip.stat().st_size
    response = get(http, video["url"], Range=header.format(size=size, later=size + 10))

    assert response.status_code == 416
    assert response.headers["content-range"] == f"bytes */{size}"
    assert response.json() == {"detail": f"range not satisfiable: the file has {size} bytes"}


@pytest.mark.parametrize("header", ["bytes=9-5", "items=0-1", "bytes=abc", "bytes"])
def test_a_range_that_cannot_be_parsed_is_400_in_json(http, video, header) -> None:
    response = get(http, video["url"], Range=header)

    assert response.status_code == 400
    assert response.json()["detail"].startswith("malformed Range header")


def test_if_range_honours_the_range_only_while_the_file_is_unchanged(http, video, clip) -> None:
    data = clip.read_bytes()
    head = get(http, video["url"])
    etag, modified = head.headers["etag"], head.headers["last-modified"]

    for validator in (etag, modified):
        same = get(http, video["url"], Range="bytes=0-9", **{"If-Range": validator})
        assert (same.status_code, same.content) == (206, data[:10])
    for stale in ('"not-the-etag"', f"W/{etag}", formatdate(0, usegmt=True)):
        changed = get(http, video["url"], Range="bytes=0-9", **{"If-Range": stale})
        assert (changed.status_code, changed.content) == (200, data)


def test_head_with_a_range_sends_the_headers_only(http, video, clip) -> None:
    response = http.head(video["url"], headers={"Range": "bytes=10-19"})

    assert response.status_code == 206
    assert response.headers["content-range"] == f"bytes 10-19/{clip.stat().st_size}"
    assert response.headers["content-length"] == "10"
    assert response.content == b""


@pytest.mark.parametrize(
    ("suffix", "content_type"),
    [(".ogg", "audio/ogg"), (".wav", "audio/wav"), (".mp3", "audio/mpeg"), (".webm", "video/webm")],
)
def test_audio_and_other_videos_play_from_the_same_url_with_their_type(
    http, server, owner, tmp_path, suffix, content_type
) -> None:
    path = write_media(tmp_path / f"sound{suffix}", 1.0)
    media = add(server, owner, path)

    assert media["url"] == f"/videos/{media['id']}"
    response = get(http, media["url"], Range="bytes=-16")
    assert response.status_code == 206
    assert response.headers["content-type"] == content_type
    assert response.content == path.read_bytes()[-16:]


def test_the_record_says_what_the_probe_found(http, video) -> None:
    response = get(http, f"/videos/{video['id']}/info")

    assert response.status_code == 200
    record = response.json()
    assert record | {"status": "?", "hls_url": "?"} == video | {"status": "?", "hls_url": "?"}
    assert (record["kind"], record["width"], record["height"]) == ("mp4", 160, 120)
    assert (record["video_codec"], record["audio_codec"]) == ("h264", "aac")
    assert record["duration_seconds"] == pytest.approx(2.0, abs=0.1)


@pytest.mark.parametrize(
    "path",
    [
        "/videos/0123456789abcdef",
        "/videos/0123456789abcdef/info",
        "/videos/..%2Fstreamverse.db",
        "/videos/%2e%2e",
        "/videos/..%2F..%2Fetc%2Fpasswd",
        "/videos/ABCDEF0123456789",
        "/videos/0123456789abcdef%00",
    ],
)
def test_unknown_or_malformed_ids_are_404_in_json(http, video, path) -> None:
    response = http.get(path)

    assert response.status_code == 404
    assert "not found" in response.json()["detail"].lower()


def test_the_list_pages_newest_first_without_overlaps(server_factory, tmp_path) -> None:
    site = server_factory(media_page_size=2)
    with httpx.Client(base_url=site.url, timeout=10) as client:
        user, _ = make_user(client, "grace")
        owner = User.model_validate(user)
        sound = write_media(tmp_path / "tone.wav", 0.2)
        added = [add(site, owner, sound, title=f"Take {n}")["id"] for n in range(5)]

        pages: list[list[str]] = []
        offset: int | None = 0
        while offset is not None:
            page = client.get("/videos", params={"offset": offset}).json()
            pages.append([item["title"] for item in page["items"]])
            assert (page["total"], page["limit"]) == (5, 2)
            offset = page["next_offset"]
        custom = client.get("/videos", params={"limit": 4, "offset": 3}).json()
        errors = [
            client.get("/videos", params=p).status_code
            for p in ({"limit": 0}, {"limit": 201}, {"offset": -1})
        ]

    assert pages == [["Take 4", "Take 3"], ["Take 2", "Take 1"], ["Take 0"]]
    assert [item["id"] for item in custom["items"]] == added[1::-1]
    assert custom["next_offset"] is None
    assert errors == [422, 422, 422]
