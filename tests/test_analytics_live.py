"""Live analytics over SSE against a real uvicorn: real viewers, likes, resume and reset."""

import asyncio
import json
import re
import socket
import threading
from typing import Any

import httpx
import pytest
from conftest import WAIT, make_stream, make_user, post_comment, set_status, wait_until
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sse_client import SSEConnection, SSEEvent, SSEParser

from streamverse import Settings, create_app
from streamverse.broker import topics
from streamverse.broker.backends.memory import MemoryBackend
from streamverse.notebook import BackgroundServer
from streamverse.services import services_of

FAST: dict[str, Any] = {"analytics_interval_seconds": 0.02}


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    """One server for the module; each test makes its own users and streams."""
    from conftest import start_server

    background = start_server(tmp_path_factory.mktemp("data"), history_size=50, **FAST)
    yield background
    background.stop()


@pytest.fixture
def http(live):
    with httpx.Client(base_url=live.url, timeout=WAIT) as client:
        yield client


def analytics_url(server, stream_id):
    return f"{server.url}/streams/{stream_id}/analytics/live"


def publish(server, stream_id, data):
    broker = services_of(server.app).broker
    return server.call(broker.publish(topics.analytics(stream_id), "analytics", data)).id


def test_first_event_is_a_snapshot_with_id_and_retry_and_the_headers_defeat_buffering(live, http):
    _, owner = make_user(http)
    stream = make_stream(http, owner, status="live")
    with SSEConnection(analytics_url(live, stream["id"])) as feed:
        (first,) = feed.take(1)
        headers = feed.response.headers
        retry = feed.parser.retry
    assert headers["content-type"].startswith("text/event-stream")
    assert headers["cache-control"] == "no-cache"
    assert headers["x-accel-buffering"] == "no"
    assert retry == services_of(live.app).settings.sse_retry_ms
    assert first.type == "analytics" and first.last_event_id.isdigit()
    assert first.json() == {
        "stream_id": stream["id"],
        "status": "live",
        "viewers": 0,
        "peak_viewers": 0,
        "likes": 0,
        "comments_per_minute": 0.0,
    }


class Viewer:
    """Someone watching a stream: an open comments feed, closed from the same thread."""

    def __init__(self, server, stream_id):
        self.client = httpx.Client(timeout=WAIT)
        url = f"{server.url}/streams/{stream_id}/comments/live"
        self.response = self.client.send(self.client.build_request("GET", url), stream=True)

    def leave(self):
        self.response.close()
        self.client.close()


def test_viewer_count_follows_real_connections(live, http):
    _, owner = make_user(http)
    stream = make_stream(http, owner, status="live")
    with SSEConnection(analytics_url(live, stream["id"])) as feed:
        viewers = [Viewer(live, stream["id"]) for _ in range(3)]
        feed.until(lambda event: event.json()["viewers"] == 3)
        viewers[0].leave()
        last = feed.until(lambda event: event.json()["viewers"] != 3)[-1].json()
        for viewer in viewers[1:]:
            viewer.leave()
    assert (last["viewers"], last["peak_viewers"]) == (2, 3)


def test_likes_count_once_per_user_and_bursts_are_coalesced(live, http):
    _, owner = make_user(http)
    stream = make_stream(http, owner, status="live")
    fans = [make_user(http, f"fan{n}")[1] for n in range(20)]
    with SSEConnection(analytics_url(live, stream["id"])) as feed:
        feed.take(1)
        statuses = [http.post(f"/streams/{stream['id']}/likes", headers=fan) for fan in fans]
        again = http.post(f"/streams/{stream['id']}/likes", headers=fans[0])
        events = feed.until(lambda event: event.json()["likes"] == 20)
    assert {response.status_code for response in statuses} == {201}
    assert again.status_code == 200 and again.json() == {
        "stream_id": stream["id"],
        "liked": True,
        "created": False,
        "likes": 20,
    }
    assert len(events) < 20  # 20 changes, fewer events: the aggregator coalesces


def test_comment_rate_comes_from_real_comments(live, http):
    _, owner = make_user(http)
    stream = make_stream(http, owner, status="live")
    with SSEConnection(analytics_url(live, stream["id"])) as feed:
        feed.take(1)
        for n in range(3):
            post_comment(http, owner, stream["id"], f"comment {n}")
        last = feed.until(lambda event: event.json()["comments_per_minute"] == 3.0)[-1]
    assert last.json()["viewers"] == 0


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    while_connected=st.integers(0, 8),
    cut_after=st.integers(0, 8),
    while_away=st.integers(0, 12),
)
def test_reconnect_with_last_event_id_loses_and_duplicates_nothing(
    live, http, while_connected, cut_after, while_away
):
    _, owner = make_user(http)
    stream = make_stream(http, owner, status="live")
    url = analytics_url(live, stream["id"])
    with SSEConnection(url) as feed:
        (snapshot,) = feed.take(1)
        start = int(snapshot.last_event_id)
        for n in range(while_connected):
            publish(live, stream["id"], {"n": n})
        first = feed.take(min(cut_after, while_connected))  # then the connection is cut
    resume_from = first[-1].last_event_id if first else snapshot.last_event_id
    for n in range(while_away):
        publish(live, stream["id"], {"n": while_connected + n})
    final = live.call(services_of(live.app).broker.last_id(topics.analytics(stream["id"])))
    with SSEConnection(url, headers={"Last-Event-ID": resume_from}) as feed:
        second = (
            feed.until(lambda event: int(event.last_event_id) == final)
            if final > int(resume_from)
            else []
        )
    ids = [int(event.last_event_id) for event in first + second]
    assert ids == list(range(start + 1, final + 1))


def test_resume_by_query_parameter_for_clients_that_cannot_set_headers(live, http):
    _, owner = make_user(http)
    stream = make_stream(http, owner, status="live")
    first = publish(live, stream["id"], {"n": 1})
    second = publish(live, stream["id"], {"n": 2})
    url = f"{analytics_url(live, stream['id'])}?last_event_id={first}"
    with SSEConnection(url) as feed:
        (event,) = feed.take(1)
    assert (int(event.last_event_id), event.json()) == (second, {"n": 2})


@pytest.mark.parametrize("stale", ["1", "999999"])
def test_an_id_outside_history_gets_a_reset_with_a_fresh_snapshot(live, http, stale):
    _, owner = make_user(http)
    stream = make_stream(http, owner, status="live")
    for n in range(60):  # history keeps 50
        publish(live, stream["id"], {"n": n})
    with SSEConnection(analytics_url(live, stream["id"]), {"Last-Event-ID": stale}) as feed:
        (reset,) = feed.take(1)
    assert reset.type == "reset"
    assert reset.json()["stream_id"] == stream["id"] and reset.json()["status"] == "live"
    latest = live.call(services_of(live.app).broker.last_id(topics.analytics(stream["id"])))
    assert int(reset.last_event_id) == latest


def test_malformed_last_event_id_and_unknown_stream_are_json_errors(live, http):
    _, owner = make_user(http)
    stream = make_stream(http, owner, status="live")
    bad = http.get(f"/streams/{stream['id']}/analytics/live", headers={"Last-Event-ID": "x1"})
    assert bad.status_code == 400 and "Last-Event-ID" in bad.json()["detail"]
    missing = http.get("/streams/nope/analytics/live")
    assert missing.status_code == 404 and missing.json() == {"detail": "stream 'nope' not found"}
    assert http.get("/streams").status_code == 200


def test_keepalive_comments_flow_while_idle(server_factory):
    background = server_factory(sse_keepalive_seconds=0.05)
    stream = live_stream(background)
    with SSEConnection(analytics_url(background, stream["id"])) as feed:
        feed.take(1)
        for chunk in feed._chunks:
            feed.parser.feed(chunk)
            if feed.parser.comments.count("keepalive") >= 2:
                break
    assert feed.parser.comments.count("keepalive") >= 2


def test_ending_the_stream_sends_final_numbers_then_closes_the_feed(live, http):
    _, owner = make_user(http)
    stream = make_stream(http, owner, status="live")
    with SSEConnection(analytics_url(live, stream["id"])) as feed:
        feed.take(1)
        set_status(http, owner, stream["id"], "ended")
        rest = list(feed.events())  # returns only because the server ends the body
    assert rest[-1].type == "stream_ended"
    assert [e.json()["status"] for e in rest if e.type == "analytics"][-1] == "ended"


def live_stream(server):
    """A new user's stream, already live, on ``server``."""
    with httpx.Client(base_url=server.url, timeout=WAIT) as client:
        _, owner = make_user(client)
        return make_stream(client, owner, status="live")


def stalled_client(server, path):
    """A raw connection that sends its GET and then never reads (a tiny receive buffer, so
    the server's writes back up quickly)."""
    stalled = socket.socket()
    stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stalled.connect(("127.0.0.1", server.port))
    stalled.sendall(f"GET {path} HTTP/1.1\r\nHost: test\r\n\r\n".encode())
    return stalled


def test_a_reader_that_stops_reading_is_dropped_while_another_gets_everything(server_factory):
    background = server_factory(subscriber_queue_size=16)
    stream = live_stream(background)
    path = f"/streams/{stream['id']}/analytics/live"
    broker, name = services_of(background.app).broker, topics.analytics(stream["id"])

    stalled = stalled_client(background, path)
    with SSEConnection(background.url + path) as reader:
        reader.take(1)
        wait_until(lambda: broker.subscriber_count(name) == 2, what="both subscribed")
        payload = "x" * 32_000
        count = 400

        async def publish_all():
            for n in range(count):
                await broker.publish(name, "analytics", {"n": n, "pad": payload})
                await asyncio.sleep(0.002)

        publisher = threading.Thread(target=background.call, args=(publish_all(), 60))
        publisher.start()
        received = reader.until(lambda event: event.json().get("n") == count - 1)
        publisher.join()
    numbers = [event.json()["n"] for event in received if "n" in event.json()]
    assert numbers == list(range(count))
    assert broker.subscriber_count(name) == 0  # the stalled one was dropped, the reader left

    parser, dropped = SSEParser(), list[SSEEvent]()
    stalled.settimeout(WAIT)
    try:
        while not dropped:
            chunk = stalled.recv(1 << 20)
            assert chunk, "the stalled connection ended without a 'dropped' event"
            text = chunk.decode(errors="replace")
            dropped = [event for event in parser.feed(text) if event.type == "dropped"]
    finally:
        stalled.close()
    assert "slow consumer" in dropped[0].json()["reason"]


def test_global_stats_rank_streams_by_the_documented_score(server_factory):
    from streamverse.analytics.trending import engagement_score

    background = server_factory(**FAST)
    with httpx.Client(base_url=background.url, timeout=WAIT) as client:
        _, owner = make_user(client)
        quiet = make_stream(client, owner, "Quiet", "music", status="live")
        busy = make_stream(client, owner, "Busy", "gaming", status="live")
        make_stream(client, owner, "Later", "gaming")  # scheduled: not active
        fans = [make_user(client, f"fan{n}")[1] for n in range(3)]
        for fan in fans:
            client.post(f"/streams/{busy['id']}/likes", headers=fan)
        post_comment(client, owner, busy["id"], "gg")
        viewers = [Viewer(background, busy["id"]), Viewer(background, quiet["id"])]
        with SSEConnection(f"{background.url}/streams/global-stats/live") as feed:
            stats = feed.until(lambda event: event.json()["total_viewers"] == 2)[-1].json()
        for viewer in viewers:
            viewer.leave()
    assert stats["active_streams"] == 2
    assert [s["stream_id"] for s in stats["trending"]] == [busy["id"], quiet["id"]]
    top = stats["trending"][0]
    assert (top["viewers"], top["likes"], top["comments_per_minute"]) == (1, 3, 1.0)
    assert top["score"] == engagement_score(1, 1.0, 3)
    assert stats["popular_categories"] == [
        {"category": "gaming", "live_streams": 1, "viewers": 1},
        {"category": "music", "live_streams": 1, "viewers": 1},
    ]


@pytest.mark.timeout(40)
def test_shutdown_ends_open_sse_feeds_instead_of_waiting_for_them(tmp_path):
    # A long graceful timeout: a regression shows as a pytest timeout, not a slow pass.
    background = BackgroundServer(
        create_app(Settings(data_dir=tmp_path, **FAST)), graceful_timeout=60
    )
    stream = live_stream(background)
    feeds = [SSEConnection(analytics_url(background, stream["id"])) for _ in range(100)]
    for feed in feeds:
        feed.take(1)
    background.stop()
    assert not background.running
    for feed in feeds:
        assert list(feed.events()) == []  # the body ended cleanly: no error, nothing more
        feed.close()


def test_a_watched_stream_gets_periodic_snapshots_even_when_nothing_changes(server_factory):
    background = server_factory(snapshot_interval_seconds=0.1, **FAST)
    stream = live_stream(background)
    viewer = Viewer(background, stream["id"])
    try:
        with SSEConnection(analytics_url(background, stream["id"])) as feed:
            feed.until(lambda event: event.json()["viewers"] == 1)
            again = feed.take(3)  # nothing changes from here on: these are the refreshes
    finally:
        viewer.leave()
    assert [event.json()["viewers"] for event in again] == [1, 1, 1]
    ids = [int(event.last_event_id) for event in again]
    assert ids == sorted(set(ids))  # real events with ids, so a reconnect resumes after them


def test_the_feed_of_an_ended_stream_sends_its_final_numbers_and_closes(live, http):
    _, owner = make_user(http)
    stream = make_stream(http, owner, status="ended")
    with SSEConnection(analytics_url(live, stream["id"])) as feed:
        events = list(feed.events())  # returns only because the server ends the body
    assert [event.type for event in events] == ["analytics", "stream_ended"]
    assert events[0].json()["status"] == "ended"
    assert events[1].json() == {"stream_id": stream["id"]}


@pytest.mark.parametrize("resume", ["a known id", "an id from long ago"])
def test_resuming_the_feed_of_an_ended_stream_also_gets_the_end(live, http, resume):
    """A browser's EventSource reconnects after the server closes a feed; one whose stream
    has ended must get the final numbers and the end again, not a feed that never ends."""
    _, owner = make_user(http)
    stream = make_stream(http, owner, status="live")
    with SSEConnection(analytics_url(live, stream["id"])) as feed:
        feed.take(1)
        set_status(http, owner, stream["id"], "ended")
        last = feed.until(lambda event: event.type == "stream_ended")[-1]
    since = last.last_event_id if resume == "a known id" else "1"
    with SSEConnection(analytics_url(live, stream["id"]), {"Last-Event-ID": since}) as again:
        events = list(again.events())  # returns only because the server ends the body
    assert [event.type for event in events] == ["analytics", "stream_ended"]
    assert events[0].json()["status"] == "ended"
    assert int(events[0].last_event_id) >= int(last.last_event_id)


def test_feeds_of_unknown_streams_leave_no_topic_behind(live, http):
    backend = services_of(live.app).broker.backend
    assert isinstance(backend, MemoryBackend)
    topics = backend.topics
    for n in range(20):
        assert http.get(f"/streams/made-up-{n}/analytics/live").status_code == 404
    assert not any(name.startswith("stream:made-up-") for name in topics)


@pytest.mark.parametrize(
    ("path", "headers", "status"),
    [
        ("/streams/global-stats/live", {"Last-Event-ID": "9" * 5000}, 400),
        ("/streams?offset=" + "9" * 20, {}, 422),
    ],
)
def test_absurd_numbers_are_client_errors_not_crashes(live, http, path, headers, status):
    response = http.get(path, headers=headers)
    assert response.status_code == status and "detail" in response.json()


@pytest.mark.timeout(40)
def test_a_client_that_stopped_reading_does_not_hold_up_shutdown(tmp_path):
    # A long graceful timeout: a regression shows as a pytest timeout, not a slow pass.
    settings = Settings(data_dir=tmp_path, subscriber_queue_size=100_000)
    background = BackgroundServer(create_app(settings), graceful_timeout=60)
    stream = live_stream(background)
    path = f"/streams/{stream['id']}/analytics/live"
    broker, name = services_of(background.app).broker, topics.analytics(stream["id"])
    stalled = stalled_client(background, path)
    try:
        wait_until(lambda: broker.subscriber_count(name) == 1, what="the stalled subscriber")

        async def flood():  # far more than the socket buffers hold: the writer must block
            for n in range(800):
                await broker.publish(name, "analytics", {"n": n, "pad": "x" * 32_000})
                await asyncio.sleep(0)

        background.call(flood(), 60)
        background.stop()
        assert not background.running
    finally:
        stalled.close()


def test_the_numbers_are_also_readable_once_as_plain_json(live, http):
    _, owner = make_user(http)
    stream = make_stream(http, owner, status="live")
    http.post(f"/streams/{stream['id']}/likes", headers=owner).raise_for_status()
    numbers = http.get(f"/streams/{stream['id']}/analytics").json()
    assert (numbers["likes"], numbers["status"], numbers["viewers"]) == (1, "live", 0)
    assert http.get("/streams/nope/analytics").status_code == 404
    stats = http.get("/streams/global-stats").json()
    assert stream["id"] in [entry["stream_id"] for entry in stats["trending"]]


def test_openapi_describes_each_feed_event_and_every_reference_resolves(live, http):
    spec = http.get("/openapi.json").json()
    live_feed = spec["paths"]["/streams/{stream_id}/analytics/live"]["get"]["responses"]
    event = live_feed["200"]["content"]["text/event-stream"]["itemSchema"]
    assert event["properties"]["data"]["contentSchema"] == {
        "$ref": "#/components/schemas/StreamAnalytics"
    }
    assert set(live_feed) >= {"200", "400", "404"}
    refs = set(re.findall(r'"#/components/schemas/([^"]+)"', json.dumps(spec)))
    assert refs <= set(spec["components"]["schemas"]), refs - set(spec["components"]["schemas"])
