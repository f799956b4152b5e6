"""``POST /analytics/process-logs/`` over real sockets: lines counted across chunk
boundaries, CRLF, no final newline, invalid UTF-8; progress over SSE with ids, resumed
with Last-Event-ID while the log is still arriving; errors in JSON."""

from __future__ import annotations

import itertools
import queue
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from conftest import WAIT, make_user, wait_until
from sse_client import SSEConnection

from streamverse.notebook import BackgroundServer

LOG = (
    b"2024-05-01 12:00:00 INFO service started\r\n"
    b"2024-05-01 12:00:01 ERROR db: connection refused\r\n"
    b"2024-05-01 12:00:02 WARNING slow query (2.1 s)\n"
    b"2024-05-01 12:00:03 ERROR db: connection refused\n"
    b"2024-05-01 12:00:04 ERROR caf\xc3\xa9 \xff not UTF-8\n"
    b"2024-05-01 12:00:05 DEBUG retrying\n"
    b"no level here\n"
    b"2024-05-01 12:00:06 INFO done"  # no final newline
)


@pytest.fixture(scope="module")
def site(server_factory_module: Any) -> BackgroundServer:
    return server_factory_module


@pytest.fixture(scope="module")
def server_factory_module(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BackgroundServer]:
    from conftest import start_server

    background = start_server(tmp_path_factory.mktemp("data"), logs_progress_lines=2)
    yield background
    background.stop()


@pytest.fixture(scope="module")
def headers(site: BackgroundServer) -> dict[str, str]:
    with httpx.Client(base_url=site.url) as http:
        return make_user(http, "ada")[1]


@pytest.fixture
def http(site: BackgroundServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=site.url, timeout=WAIT) as client:
        yield client


def chunks_of(data: bytes, size: int) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


@pytest.mark.parametrize("size", [1, 3, 7, 64, 1 << 16])
def test_the_counts_are_the_same_whatever_the_chunks(http, headers, size) -> None:
    response = http.post("/analytics/process-logs/", content=chunks_of(LOG, size), headers=headers)

    assert response.status_code == 200, response.text
    summary = response.json()
    assert summary["state"] == "done"
    assert (summary["lines"], summary["bytes"]) == (8, len(LOG))
    assert summary["levels"] == {"ERROR": 3, "WARNING": 1, "INFO": 2, "other": 2}
    assert summary["top_errors"] == [
        {"message": "db: connection refused", "count": 2},
        {"message": "café \ufffd not UTF-8", "count": 1},
    ]
    assert summary["top_errors_exact"] is True
    assert response.headers["location"] == f"/analytics/log-jobs/{summary['id']}"
    assert http.get(response.headers["location"]).json() == summary


def test_many_distinct_errors_keep_the_frequent_one_within_the_bound(http, headers) -> None:
    lines = [b"ERROR request %d failed" % n if n % 3 else b"ERROR db: down" for n in range(3000)]
    log = b"\n".join(line + b"\r" * (n % 7 == 0) for n, line in enumerate(lines))  # some CRLF
    response = http.post("/analytics/process-logs/", content=chunks_of(log, 999), headers=headers)

    summary = response.json()
    assert (summary["lines"], summary["levels"]["ERROR"]) == (3000, 3000)
    assert summary["top_errors_exact"] is False  # 2001 messages, 100 counters (10 shown)
    top = summary["top_errors"][0]
    assert top["message"] == "db: down"
    assert 1000 - 3000 / 101 <= top["count"] <= 1000  # Misra-Gries: at most n/(100+1) low


def test_an_empty_log_is_zero_lines(http, headers) -> None:
    summary = http.post("/analytics/process-logs/", content=b"", headers=headers).json()
    assert (summary["state"], summary["lines"], summary["bytes"]) == ("done", 0, 0)


def test_overlong_lines_are_cut_and_counted(server_factory) -> None:
    site = server_factory(logs_max_line_bytes=64)
    with httpx.Client(base_url=site.url, timeout=WAIT) as http:
        headers = make_user(http, "ada")[1]
        body = b"ERROR " + b"x" * 10_000 + b"\nINFO short\n"
        summary = http.post("/analytics/process-logs/", content=body, headers=headers).json()
    assert (summary["lines"], summary["truncated_lines"]) == (2, 1)
    assert summary["top_errors"] == [{"message": "x" * 58, "count": 1}]


def test_the_progress_feed_has_ids_and_ends_with_the_summary(site, http, headers) -> None:
    job = http.post("/analytics/log-jobs", headers=headers).json()
    assert job["state"] == "waiting"
    assert job["upload_url"] == f"/analytics/process-logs/?job_id={job['id']}"
    with SSEConnection(site.url + job["progress_url"]) as feed:
        first = feed.take(1)[0]
        assert (first.type, first.json()["state"]) == ("progress", "waiting")
        posted = http.post(job["upload_url"], content=chunks_of(LOG, 5), headers=headers)
        events = feed.until(lambda event: event.type == "summary")
    assert posted.status_code == 200
    progress = [event.json() for event in events if event.type == "progress"]
    assert [p["state"] for p in progress] == ["processing"] * len(progress)
    counted = [p["lines"] for p in progress]
    assert counted[0] == 0  # processing has started
    # At most one event per chunk received, each after crossing another multiple of 2 lines
    # (logs_progress_lines); how the body is cut into chunks on the way is up to TCP.
    assert all(a // 2 < b // 2 for a, b in itertools.pairwise(counted))
    ids = [int(event.last_event_id) for event in [first, *events]]
    assert ids == sorted(set(ids)), "every event has its own, increasing id"
    assert events[-1].json() == posted.json()


class Uploader:
    """Sends a log from a thread, one chunk each time the test says so."""

    END = object()

    def __init__(self, url: str, headers: dict[str, str]) -> None:
        self.chunks: queue.Queue[Any] = queue.Queue()
        self.response: httpx.Response | None = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(url, headers), daemon=True)
        self._thread.start()

    def _body(self) -> Iterator[bytes]:
        while (chunk := self.chunks.get(timeout=WAIT)) is not self.END:
            if isinstance(chunk, BaseException):
                raise chunk
            yield chunk

    def _run(self, url: str, headers: dict[str, str]) -> None:
        try:
            self.response = httpx.post(url, content=self._body(), headers=headers, timeout=WAIT)
        except BaseException as error:
            self.error = error

    def join(self) -> None:
        self._thread.join(WAIT)
        assert not self._thread.is_alive()


def test_a_reader_cut_off_resumes_with_last_event_id(site, http, headers) -> None:
    job = http.post("/analytics/log-jobs", headers=headers).json()
    job_url = f"/analytics/log-jobs/{job['id']}"
    uploader = Uploader(site.url + job["upload_url"], headers)
    lines = [b"INFO line %d\n" % n for n in range(12)]
    with SSEConnection(site.url + job["progress_url"]) as feed:
        uploader.chunks.put(b"".join(lines[:4]))
        seen = feed.until(lambda event: event.type == "progress" and event.json()["lines"] == 4)
    last_id = seen[-1].last_event_id

    uploader.chunks.put(b"".join(lines[4:8]))  # sent while nobody is reading the feed
    wait_until(lambda: http.get(job_url).json()["lines"] == 8, what="8 lines counted")

    with SSEConnection(site.url + job["progress_url"], headers={"Last-Event-ID": last_id}) as feed:
        missed = feed.take(1)[0]
        uploader.chunks.put(b"".join(lines[8:]) + b"ERROR the end")
        uploader.chunks.put(Uploader.END)
        rest = feed.until(lambda event: event.type == "summary")
    uploader.join()

    assert (missed.type, missed.json()["lines"]) == ("progress", 8)
    assert int(missed.last_event_id) > int(last_id)
    assert [(e.type, e.json()["lines"]) for e in rest] == [("progress", 12), ("summary", 13)]
    assert uploader.response is not None and uploader.response.json()["lines"] == 13

    # After the end: a resume that missed nothing gets the summary again and the feed ends;
    # a fresh reader gets just the summary.
    for extra in ({"Last-Event-ID": rest[-1].last_event_id}, {}):
        with SSEConnection(site.url + job["progress_url"], headers=extra) as feed:
            again = list(feed.events())
        assert [(e.type, e.json()["lines"]) for e in again] == [("summary", 13)]


def test_a_client_that_disconnects_fails_the_job_with_a_reason(site, http, headers) -> None:
    job = http.post("/analytics/log-jobs", headers=headers).json()
    job_url = f"/analytics/log-jobs/{job['id']}"
    uploader = Uploader(site.url + job["upload_url"], headers)
    with SSEConnection(site.url + job["progress_url"]) as feed:
        uploader.chunks.put(b"INFO a\nINFO b\nINFO c\n")
        feed.until(lambda event: event.json()["lines"] == 3)
        uploader.chunks.put(ConnectionAbortedError("the client gives up"))
        failed = feed.until(lambda event: event.type == "failed")[-1].json()
    uploader.join()

    assert failed["state"] == "failed"
    assert failed["reason"] == "the client disconnected after 21 bytes"
    assert failed["lines"] == 3
    assert http.get(job_url).json() == failed


def test_the_errors_say_what_to_do(site, http, headers) -> None:
    job = http.post("/analytics/log-jobs", headers=headers).json()
    http.post(job["upload_url"], content=b"INFO once\n", headers=headers)
    other = make_user(http, "grace")[1]
    fresh = http.post("/analytics/log-jobs", headers=headers).json()

    cases = {
        "again": http.post(job["upload_url"], content=b"x", headers=headers),
        "someone else's": http.post(fresh["upload_url"], content=b"x", headers=other),
        "unknown": http.post("/analytics/process-logs/?job_id=nope", content=b"x", headers=headers),
        "anonymous": http.post("/analytics/process-logs/", content=b"x"),
        "multipart": http.post("/analytics/process-logs/", files={"file": b"x"}, headers=headers),
        "unknown feed": http.get("/analytics/log-jobs/nope/progress"),
        "bad resume id": http.get(fresh["progress_url"], headers={"Last-Event-ID": "abc"}),
    }
    assert {name: r.status_code for name, r in cases.items()} == {
        "again": 409,
        "someone else's": 403,
        "unknown": 404,
        "anonymous": 401,
        "multipart": 415,
        "unknown feed": 404,
        "bad resume id": 400,
    }
    assert all(isinstance(r.json()["detail"], str) for r in cases.values())
    assert "--data-binary" in cases["multipart"].json()["detail"]
    assert http.get(fresh["progress_url"].removesuffix("/progress")).json()["state"] == "waiting"


def test_a_job_left_processing_by_a_crash_is_failed_at_startup(tmp_path) -> None:
    from conftest import start_server

    from streamverse.logs.models import LogJobRow
    from streamverse.services import services_of

    first = start_server(tmp_path)
    with httpx.Client(base_url=first.url, timeout=WAIT) as http:
        job = http.post("/analytics/log-jobs", headers=make_user(http, "ada")[1]).json()

    async def crash_midway() -> None:
        async with services_of(first.app).store.session() as session:
            row = await session.get(LogJobRow, job["id"])
            assert row is not None
            row.state = "processing"
            await session.commit()

    first.call(crash_midway())
    first.stop()
    second = start_server(tmp_path)
    try:
        with httpx.Client(base_url=second.url, timeout=WAIT) as http:
            after = http.get(f"/analytics/log-jobs/{job['id']}").json()
    finally:
        second.stop()
    assert (after["state"], after["reason"]) == ("failed", "the server restarted")
