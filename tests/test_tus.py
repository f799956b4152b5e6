"""tus 1.0 conformance (core, creation, termination, checksum, expiration), over sockets:
each status code the protocol names, what is (not) applied when a request is refused,
the lock per upload, expiry, and a restart in the middle of an upload."""

from __future__ import annotations

import base64
import hashlib
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import WAIT, make_user, start_server, wait_until

from streamverse.db.base import utcnow
from streamverse.notebook import BackgroundServer
from streamverse.services import services_of
from streamverse.uploads import storage
from streamverse.uploads.cleanup import expire_uploads
from streamverse.videos.synthetic import write_media

TUS = {"Tus-Resumable": "1.0.0"}
OCTETS = {**TUS, "Content-Type": "application/offset+octet-stream"}
LIMIT = 8_000_000


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    path = write_media(tmp_path_factory.mktemp("media") / "clip.mp4", 3.0, width=320, height=240)
    return path.read_bytes()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BackgroundServer]:
    server = start_server(tmp_path_factory.mktemp("data"), upload_max_bytes=LIMIT)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def http(site: BackgroundServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=site.url, timeout=WAIT) as client:
        yield client


@pytest.fixture
def user(http: httpx.Client) -> dict[str, str]:
    return make_user(http)[1]


def create(http: httpx.Client, user: dict[str, str], length: int, **headers: str) -> str:
    sent = {**TUS, **user, "Upload-Length": str(length), **headers}
    response = http.post("/uploads/tus/", headers=sent)
    assert response.status_code == 201, response.text
    assert response.headers["tus-resumable"] == "1.0.0"
    return response.headers["location"]


def offset(http: httpx.Client, user: dict[str, str], url: str) -> int:
    response = http.head(url, headers={**TUS, **user})
    assert response.status_code == 200, response.status_code
    return int(response.headers["upload-offset"])


def patch(
    http: httpx.Client, user: dict[str, str], url: str, at: int, data: Any, **extra: str
) -> httpx.Response:
    sent = {**OCTETS, **user, "Upload-Offset": str(at), **extra}
    return http.patch(url, content=data, headers=sent)


def test_options_says_what_the_server_supports(http: httpx.Client) -> None:
    for path in ("/uploads/tus/", f"/uploads/tus/{'0' * 32}"):
        response = http.options(path)  # no Tus-Resumable: OPTIONS must not need it
        assert response.status_code == 204
        assert response.headers["tus-version"] == "1.0.0"
        extensions = set(response.headers["tus-extension"].split(","))
        assert {"creation", "termination", "checksum", "expiration"} <= extensions
        assert int(response.headers["tus-max-size"]) == LIMIT
        assert "sha1" in response.headers["tus-checksum-algorithm"].split(",")


def test_creation_then_head_gives_offset_length_and_metadata(
    http: httpx.Client, user: dict[str, str]
) -> None:
    meta = "filename " + base64.b64encode("../clip é.mp4".encode()).decode() + ",flag"
    url = create(http, user, 1000, **{"Upload-Metadata": meta})
    assert url.startswith("/uploads/tus/")
    head = http.head(url, headers={**TUS, **user})
    assert head.status_code == 200
    assert head.headers["upload-offset"] == "0"
    assert head.headers["upload-length"] == "1000"
    assert head.headers["upload-metadata"] == meta
    assert head.headers["cache-control"] == "no-store"
    progress = http.get(f"/uploads/{url.rsplit('/', 1)[1]}", headers=user).json()
    assert (progress["state"], progress["total"]) == ("created", 1000)


@pytest.mark.parametrize("version", [None, "0.2.2", "2.0.0"])
def test_a_missing_or_wrong_tus_resumable_is_412_and_nothing_is_done(
    http: httpx.Client, user: dict[str, str], clip: bytes, version: str | None
) -> None:
    url = create(http, user, len(clip))
    sent = {} if version is None else {"Tus-Resumable": version}
    headers = {**user, **sent, "Content-Type": "application/offset+octet-stream"}
    answers = [
        http.post("/uploads/tus/", headers={**user, **sent, "Upload-Length": "10"}),
        http.head(url, headers={**user, **sent}),
        http.patch(url, content=clip[:100], headers={**headers, "Upload-Offset": "0"}),
        http.delete(url, headers={**user, **sent}),
    ]
    for answer in answers:
        assert answer.status_code == 412
        assert answer.headers["tus-version"] == "1.0.0"
        assert answer.headers["tus-resumable"] == "1.0.0"
    assert offset(http, user, url) == 0  # the PATCH was not applied, the DELETE not done


def test_creation_refusals(http: httpx.Client, user: dict[str, str]) -> None:
    too_big = http.post("/uploads/tus/", headers={**TUS, **user, "Upload-Length": str(LIMIT + 1)})
    assert too_big.status_code == 413 and too_big.headers["tus-resumable"] == "1.0.0"
    assert http.post("/uploads/tus/", headers={**TUS, **user}).status_code == 400
    deferred = {**TUS, **user, "Upload-Defer-Length": "1"}
    assert http.post("/uploads/tus/", headers=deferred).status_code == 400
    anonymous = http.post("/uploads/tus/", headers={**TUS, "Upload-Length": "10"})
    assert anonymous.status_code == 401 and anonymous.headers["tus-resumable"] == "1.0.0"
    bad_meta = {**TUS, **user, "Upload-Length": "10", "Upload-Metadata": "filename ***"}
    assert http.post("/uploads/tus/", headers=bad_meta).status_code == 400


def test_patches_append_and_the_last_one_makes_media(
    http: httpx.Client, user: dict[str, str], clip: bytes
) -> None:
    url = create(http, user, len(clip))
    first = patch(http, user, url, 0, clip[:5000])
    assert first.status_code == 204
    assert first.headers["upload-offset"] == "5000"
    assert "upload-expires" in first.headers
    assert offset(http, user, url) == 5000
    last = patch(http, user, url, 5000, clip[5000:])
    assert last.status_code == 204 and last.headers["upload-offset"] == str(len(clip))
    progress = http.get(f"/uploads/{url.rsplit('/', 1)[1]}", headers=user).json()
    assert progress["state"] in ("processing", "ready")
    stored = http.get(f"/videos/{progress['media_id']}/info").json()
    assert stored["sha256"] == hashlib.sha256(clip).hexdigest()
    assert stored["size"] == len(clip)
    again = patch(http, user, url, len(clip), b"")  # a client whose last answer was lost
    assert again.status_code == 204 and again.headers["upload-offset"] == str(len(clip))


def test_offset_mismatch_is_409_and_wrong_content_type_415(
    http: httpx.Client, user: dict[str, str], clip: bytes
) -> None:
    url = create(http, user, len(clip))
    assert patch(http, user, url, 0, clip[:5000]).status_code == 204
    for wrong in (0, 4999, 6000):
        conflict = patch(http, user, url, wrong, clip[wrong : wrong + 100])
        assert conflict.status_code == 409
        assert conflict.headers["tus-resumable"] == "1.0.0"
    wrong_type = {**TUS, **user, "Upload-Offset": "5000", "Content-Type": "application/json"}
    typed = http.patch(url, content=clip[5000:6000], headers=wrong_type)
    assert typed.status_code == 415
    assert offset(http, user, url) == 5000


def test_past_upload_length_is_413_and_not_applied(
    http: httpx.Client, user: dict[str, str], clip: bytes
) -> None:
    url = create(http, user, 5000)
    assert patch(http, user, url, 0, clip[:6000]).status_code == 413
    assert offset(http, user, url) == 0


def sha1(data: bytes) -> str:
    return "sha1 " + base64.b64encode(hashlib.sha1(data).digest()).decode()


def test_checksums_keep_matching_bytes_and_refuse_others_with_460(
    http: httpx.Client, user: dict[str, str], clip: bytes
) -> None:
    url = create(http, user, len(clip))
    good = patch(http, user, url, 0, clip[:5000], **{"Upload-Checksum": sha1(clip[:5000])})
    assert good.status_code == 204
    bad = patch(http, user, url, 5000, clip[5000:9000], **{"Upload-Checksum": sha1(b"other")})
    assert bad.status_code == 460
    assert offset(http, user, url) == 5000
    unknown = patch(http, user, url, 5000, clip[5000:9000], **{"Upload-Checksum": "crc99 AAAA"})
    assert unknown.status_code == 400
    rest = clip[5000:]
    sha = "sha256 " + base64.b64encode(hashlib.sha256(rest).digest()).decode()
    assert patch(http, user, url, 5000, rest, **{"Upload-Checksum": sha}).status_code == 204
    progress = http.get(f"/uploads/{url.rsplit('/', 1)[1]}", headers=user).json()
    info = http.get(f"/videos/{progress['media_id']}/info").json()
    assert info["sha256"] == hashlib.sha256(clip).hexdigest()  # the refused bytes left no trace


def test_termination_removes_the_partial_file_and_then_410(
    http: httpx.Client, site: BackgroundServer, user: dict[str, str], clip: bytes
) -> None:
    url = create(http, user, len(clip))
    assert patch(http, user, url, 0, clip[:5000]).status_code == 204
    partial = storage.tus_path(services_of(site.app).settings, url.rsplit("/", 1)[1])
    assert partial.stat().st_size == 5000
    assert http.delete(url, headers={**TUS, **user}).status_code == 204
    assert not partial.exists()
    assert http.head(url, headers={**TUS, **user}).status_code == 410
    assert patch(http, user, url, 5000, clip[5000:]).status_code == 410
    assert http.delete(url, headers={**TUS, **user}).status_code == 410


def test_unknown_or_someone_elses_upload_is_404(
    http: httpx.Client, user: dict[str, str], clip: bytes
) -> None:
    url = create(http, user, len(clip))
    _, other = make_user(http, "bob")
    assert http.head(url, headers={**TUS, **other}).status_code == 404
    assert patch(http, other, url, 0, clip[:10]).status_code == 404
    assert http.delete(url, headers={**TUS, **other}).status_code == 404
    unknown = http.head(f"/uploads/tus/{'f' * 32}", headers={**TUS, **user})
    assert unknown.status_code == 404 and unknown.headers["tus-resumable"] == "1.0.0"
    assert http.head("/uploads/tus/..%2F..%2Fetc", headers={**TUS, **user}).status_code == 404


def test_method_override_for_clients_without_patch(
    http: httpx.Client, user: dict[str, str], clip: bytes
) -> None:
    url = create(http, user, len(clip))
    over = {**OCTETS, **user, "Upload-Offset": "0", "X-HTTP-Method-Override": "PATCH"}
    assert http.post(url, content=clip[:100], headers=over).status_code == 204
    assert offset(http, user, url) == 100


def test_content_that_is_not_media_is_refused_at_once_and_the_upload_is_gone(
    http: httpx.Client, user: dict[str, str]
) -> None:
    text = b"this is a text file, whatever its name says\n" * 200
    url = create(http, user, len(text) * 10)
    refused = patch(http, user, url, 0, text)
    assert refused.status_code == 415 and "not an allowed format" in refused.json()["detail"]
    assert http.head(url, headers={**TUS, **user}).status_code == 410


def test_two_patches_never_interleave(
    http: httpx.Client, site: BackgroundServer, user: dict[str, str], clip: bytes
) -> None:
    """A second PATCH asks the first to stop; the first keeps what it received; the second
    then finds the offset moved (409). The file holds exactly the first one's bytes."""
    url = create(http, user, len(clip))
    upload_id = url.rsplit("/", 1)[1]
    release = threading.Event()
    first_answer: list[Any] = []

    def slow_body() -> Iterator[bytes]:
        yield clip[:30000]
        release.wait(WAIT)
        yield clip[30000:]

    def first_patch() -> None:
        try:
            with httpx.Client(base_url=site.url, timeout=WAIT) as other:
                first_answer.append(patch(other, user, url, 0, slow_body()))
        except httpx.HTTPError as error:
            first_answer.append(error)

    thread = threading.Thread(target=first_patch)
    thread.start()
    try:

        def received() -> int:
            return int(http.get(f"/uploads/{upload_id}", headers=user).json()["received"])

        wait_until(lambda: received() == 30000, what="the first PATCH's bytes")
        second = patch(http, user, url, 0, clip[:50000])
        assert second.status_code == 409
        assert offset(http, user, url) == 30000
    finally:
        release.set()
        thread.join(WAIT)
    partial = storage.tus_path(services_of(site.app).settings, upload_id)
    assert partial.read_bytes() == clip[:30000]


def test_an_abandoned_upload_expires(
    http: httpx.Client, site: BackgroundServer, user: dict[str, str], clip: bytes
) -> None:
    url = create(http, user, len(clip))
    assert patch(http, user, url, 0, clip[:5000]).status_code == 204
    services = services_of(site.app)
    later = utcnow() + timedelta(seconds=services.settings.upload_expiry_seconds + 1)
    upload_id = url.rsplit("/", 1)[1]
    assert upload_id in site.call(expire_uploads(services, now=later))
    assert not storage.tus_path(services.settings, upload_id).exists()
    assert http.head(url, headers={**TUS, **user}).status_code == 410


def test_an_upload_survives_a_restart_and_unverified_bytes_do_not_count(
    tmp_path: Path, clip: bytes
) -> None:
    server = start_server(tmp_path)
    with httpx.Client(base_url=server.url, timeout=WAIT) as http:
        _, user = make_user(http)
        url = create(http, user, len(clip))
        assert patch(http, user, url, 0, clip[:7000]).status_code == 204
    server.stop()
    partial = storage.tus_path(services_of(server.app).settings, url.rsplit("/", 1)[1])
    with partial.open("ab") as file:
        file.write(b"garbage a crash left after the committed offset")
    server = start_server(tmp_path)
    try:
        with httpx.Client(base_url=server.url, timeout=WAIT) as http:
            assert offset(http, user, url) == 7000
            assert patch(http, user, url, 7000, clip[7000:]).status_code == 204
            progress = http.get(f"/uploads/{url.rsplit('/', 1)[1]}", headers=user).json()
            info = http.get(f"/videos/{progress['media_id']}/info").json()
            assert info["sha256"] == hashlib.sha256(clip).hexdigest()
    finally:
        server.stop()
