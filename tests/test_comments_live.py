"""Live comments: POST a comment, follow them all as NDJSON until the stream ends.

Feeds are read by a thread (``open_feed``); the test posts only after it has seen what it
waits for, so every step is ordered by events, not by sleeps.
"""

from __future__ import annotations

import asyncio
import json
import threading
from contextlib import asynccontextmanager

import httpx
import pytest

from streamverse.broker import topics
from streamverse.comments import service as comments
from streamverse.services import services_of

WAIT = 10.0
END = {"type": "end", "data": {"reason": "stream ended"}}


def comment(data: dict) -> dict:
    return {"type": "comment", "data": data}


def live_path(stream_id: str) -> str:
    return f"/streams/{stream_id}/comments/live"


def read_all(client: httpx.Client, stream_id: str, **params) -> list[dict]:
    """The whole body of a feed that ends by itself (the stream has ended)."""
    response = client.get(live_path(stream_id), params=params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/x-ndjson"
    return [json.loads(line) for line in response.text.splitlines()]


@pytest.fixture
def owner(client, make_user):
    return make_user(client, "owner")


@pytest.fixture
def viewer(client, make_user):
    return make_user(client, "viewer")


def test_feed_replays_recent_then_streams_new_comments_until_the_end(
    server, client, owner, viewer, make_stream, post_comment, set_status, open_feed
):
    _, owner_headers = owner
    viewer_user, viewer_headers = viewer
    stream = make_stream(client, owner_headers, status="live")
    old = [post_comment(client, owner_headers, stream["id"], f"old {i}") for i in range(3)]

    feed = open_feed(server.url, live_path(stream["id"]), {"recent": 2})
    feed.wait_connected()
    assert feed.status == 200
    assert feed.headers["content-type"] == "application/x-ndjson"
    assert [feed.next_message(), feed.next_message()] == [comment(c) for c in old[1:]]

    new = post_comment(client, viewer_headers, stream["id"], "hello from another client")
    assert new["user_id"] == viewer_user["id"] and new["user_name"] == "viewer"
    assert feed.next_message() == comment(new)
    newer = post_comment(client, owner_headers, stream["id"], "welcome!")
    assert feed.next_message() == comment(newer)

    set_status(client, owner_headers, stream["id"], "ended")
    assert feed.next_message() == END
    assert feed.next_message() is feed.EOF
    feed.join()


def test_every_reader_gets_each_comment_and_the_end(
    server, client, owner, make_stream, post_comment, set_status, open_feed
):
    _, headers = owner
    stream = make_stream(client, headers, status="live")
    first = post_comment(client, headers, stream["id"], "before anyone came")
    feeds = [open_feed(server.url, live_path(stream["id"])) for _ in range(3)]
    for feed in feeds:
        assert feed.next_message() == comment(first)

    second = post_comment(client, headers, stream["id"], "to everyone")
    set_status(client, headers, stream["id"], "ended")

    for feed in feeds:
        assert feed.rest() == [comment(second), END]
        feed.join()


def test_scheduled_stream_feed_works_before_it_goes_live(
    server, client, owner, make_stream, post_comment, set_status, open_feed, wait_until
):
    _, headers = owner
    stream = make_stream(client, headers)
    feed = open_feed(server.url, live_path(stream["id"]), {"recent": 0})
    wait_subscribed(server, stream["id"], wait_until)

    early = post_comment(client, headers, stream["id"], "waiting for the start")
    set_status(client, headers, stream["id"], "live")
    set_status(client, headers, stream["id"], "ended")

    assert feed.rest() == [comment(early), END]


def test_ended_stream_replays_and_ends_at_once(
    client, owner, make_stream, post_comment, set_status
):
    _, headers = owner
    stream = make_stream(client, headers, status="live")
    posted = [post_comment(client, headers, stream["id"], f"c{i}") for i in range(3)]
    set_status(client, headers, stream["id"], "ended")

    assert read_all(client, stream["id"]) == [*map(comment, posted), END]
    assert read_all(client, stream["id"], recent=1) == [comment(posted[-1]), END]
    assert read_all(client, stream["id"], recent=0) == [END]


def test_recent_defaults_to_the_setting(server_factory, make_user, make_stream, post_comment):
    server = server_factory(recent_comments=2)
    with httpx.Client(base_url=server.url, timeout=WAIT) as client:
        _, headers = make_user(client, "owner")
        stream = make_stream(client, headers, status="live")
        posted = [post_comment(client, headers, stream["id"], f"c{i}") for i in range(4)]
        client.put(f"/streams/{stream['id']}/status", json={"status": "ended"}, headers=headers)

        assert read_all(client, stream["id"]) == [*map(comment, posted[-2:]), END]
        assert read_all(client, stream["id"], recent=3) == [*map(comment, posted[-3:]), END]


def test_posting_to_an_ended_stream_is_409(client, owner, make_stream, post_comment):
    _, headers = owner
    stream = make_stream(client, headers, status="live")
    kept = post_comment(client, headers, stream["id"], "last word")
    client.put(f"/streams/{stream['id']}/status", json={"status": "ended"}, headers=headers)

    response = client.post(
        f"/streams/{stream['id']}/comments", json={"text": "too late"}, headers=headers
    )

    assert response.status_code == 409
    assert response.json() == {"detail": "the stream has ended; comments are closed"}
    assert read_all(client, stream["id"]) == [comment(kept), END]


def test_unknown_stream_is_404_json(client, owner):
    _, headers = owner

    live = client.get(live_path("no-such-stream"))
    post = client.post("/streams/no-such-stream/comments", json={"text": "hi"}, headers=headers)

    for response in (live, post):
        assert response.status_code == 404
        assert response.headers["content-type"] == "application/json"
        assert response.json() == {"detail": "stream 'no-such-stream' not found"}


@pytest.mark.parametrize(
    ("body", "headers", "status"),
    [
        ({"text": "hi"}, {}, 401),
        ({"text": "hi"}, {"Authorization": "Bearer not-a-real-token"}, 401),
        ({"text": ""}, None, 422),
        ({"text": "x" * 501}, None, 422),
        ({}, None, 422),
        ({"text": " \n\t "}, None, 422),
        ({"text": "a\x07b"}, None, 422),
    ],
    ids=["no-token", "unknown-token", "empty", "too-long", "missing", "blank", "control"],
)
def test_invalid_comment_is_rejected(
    client, owner, make_stream, post_comment, set_status, body, headers, status
):
    _, owner_headers = owner
    stream = make_stream(client, owner_headers, status="live")

    response = client.post(
        f"/streams/{stream['id']}/comments",
        json=body,
        headers=owner_headers if headers is None else headers,
    )

    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    ok = post_comment(client, owner_headers, stream["id"], "x" * 500)  # still serving
    set_status(client, owner_headers, stream["id"], "ended")
    assert read_all(client, stream["id"]) == [comment(ok), END]  # nothing else was stored


@pytest.mark.parametrize(
    ("params", "headers", "status"),
    [
        ({"recent": -1}, {}, 422),
        ({"recent": 1001}, {}, 422),
        ({"recent": "many"}, {}, 422),
        ({}, {"Authorization": "Bearer not-a-real-token"}, 401),
    ],
    ids=["negative-recent", "too-many-recent", "non-numeric-recent", "unknown-token"],
)
def test_invalid_live_request(client, owner, make_stream, params, headers, status):
    stream = make_stream(client, owner[1], status="live")

    response = client.get(live_path(stream["id"]), params=params, headers=headers)

    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"


def topic(stream_id: str) -> topics.Topic:
    return topics.comments(stream_id)


def wait_subscribed(server, stream_id: str, wait_until, count: int = 1) -> None:
    broker = services_of(server.app).broker
    wait_until(
        lambda: broker.subscriber_count(topic(stream_id)) == count,
        what=f"{count} subscriber(s) on the live feed",
    )


def test_disconnect_releases_the_subscription_and_the_viewer(
    server, client, owner, make_stream, wait_until
):
    stream = make_stream(client, owner[1], status="live")
    broker, presence = services_of(server.app).broker, services_of(server.app).presence
    assert broker.subscriber_count(topic(stream["id"])) == 0
    assert presence.viewers(stream["id"]) == 0

    with (
        httpx.Client(base_url=server.url, timeout=WAIT) as reader,
        reader.stream("GET", live_path(stream["id"])) as response,
    ):
        assert response.status_code == 200
        wait_subscribed(server, stream["id"], wait_until)
        assert presence.viewers(stream["id"]) == 1
    # The block closed the connection without reading to the end.

    wait_until(
        lambda: broker.subscriber_count(topic(stream["id"])) == 0,
        what="the broker subscription to be released",
    )
    wait_until(lambda: presence.viewers(stream["id"]) == 0, what="the viewer to leave")


def test_a_viewer_leaving_does_not_disturb_the_others(
    server, client, owner, make_stream, post_comment, set_status, open_feed, wait_until
):
    _, headers = owner
    stream = make_stream(client, headers, status="live")
    presence = services_of(server.app).presence
    leaving, staying = (open_feed(server.url, live_path(stream["id"])) for _ in range(2))
    wait_subscribed(server, stream["id"], wait_until, count=2)
    assert presence.viewers(stream["id"]) == 2  # two anonymous viewers

    leaving.close()

    wait_subscribed(server, stream["id"], wait_until, count=1)
    wait_until(lambda: presence.viewers(stream["id"]) == 1, what="one viewer to leave")
    after = post_comment(client, headers, stream["id"], "still here?")
    set_status(client, headers, stream["id"], "ended")
    assert staying.rest() == [comment(after), END]


def test_one_viewer_with_two_feeds_counts_once(
    server, client, owner, viewer, make_stream, wait_until
):
    stream = make_stream(client, owner[1], status="live")
    presence = services_of(server.app).presence

    with (
        httpx.Client(base_url=server.url, timeout=WAIT) as reader,
        reader.stream("GET", live_path(stream["id"]), headers=viewer[1]),
        reader.stream("GET", live_path(stream["id"]), headers=viewer[1]),
    ):
        wait_subscribed(server, stream["id"], wait_until, count=2)
        assert presence.viewers(stream["id"]) == 1


# The feed subscribes before it reads recent comments. These tests hold the feed at the
# replay read (a wrapper around ``comments.recent_comments``) and post a comment at that exact
# moment: before the read (the comment is both replayed and delivered live: it must appear
# once) and after it (only the live delivery has it: it must not be lost).


@pytest.mark.parametrize("post_at", ["before-replay-read", "after-replay-read"])
def test_comment_posted_while_connecting_is_sent_exactly_once(
    server_factory,
    make_user,
    make_stream,
    post_comment,
    set_status,
    open_feed,
    monkeypatch,
    post_at,
):
    server = server_factory()
    reached, release = threading.Event(), threading.Event()
    real_recent = comments.recent_comments

    async def held_recent(services, stream_id, count, **options):
        if post_at == "before-replay-read":
            reached.set()
            await asyncio.to_thread(release.wait, WAIT)
            return await real_recent(services, stream_id, count, **options)
        result = await real_recent(services, stream_id, count, **options)
        reached.set()
        await asyncio.to_thread(release.wait, WAIT)
        return result

    monkeypatch.setattr(comments, "recent_comments", held_recent)
    with httpx.Client(base_url=server.url, timeout=WAIT) as client:
        _, headers = make_user(client, "owner")
        stream = make_stream(client, headers, status="live")
        first = post_comment(client, headers, stream["id"], "first")
        feed = open_feed(server.url, live_path(stream["id"]))
        try:
            assert reached.wait(WAIT), "the feed never read recent comments"
            racing = post_comment(client, headers, stream["id"], "posted while connecting")
        finally:
            release.set()
        assert feed.next_message() == comment(first)
        assert feed.next_message() == comment(racing)
        set_status(client, headers, stream["id"], "ended")
        assert feed.rest() == [END]
        feed.join()


def test_stream_ended_while_connecting_still_ends_the_feed(
    server_factory, make_user, make_stream, set_status, open_feed, monkeypatch
):
    """The end is announced after the route checked the status but before the feed has
    subscribed: the feed must notice (not wait for an announcement that already passed)."""
    server = server_factory()
    broker = services_of(server.app).broker
    reached, release = threading.Event(), threading.Event()
    real_subscribe = broker.subscribe

    with httpx.Client(base_url=server.url, timeout=WAIT) as client:
        _, headers = make_user(client, "owner")
        stream = make_stream(client, headers, status="live")

        @asynccontextmanager
        async def held_subscribe(name, since=None):
            if name == topic(stream["id"]):
                reached.set()
                await asyncio.to_thread(release.wait, WAIT)
            async with real_subscribe(name, since) as subscription:
                yield subscription

        monkeypatch.setattr(broker, "subscribe", held_subscribe)
        feed = open_feed(server.url, live_path(stream["id"]))
        try:
            assert reached.wait(WAIT), "the feed never subscribed"
            set_status(client, headers, stream["id"], "ended")
        finally:
            release.set()

        assert feed.rest() == [END]
        feed.join()


def test_comments_published_out_of_id_order_are_all_delivered(
    server_factory, make_user, make_stream, set_status, open_feed, wait_until, monkeypatch
):
    """Two posts commit as ids n and n+1 but publish n+1 first (their tasks interleave, or
    they run on different servers): the feed must still deliver both."""
    server = server_factory()
    broker = services_of(server.app).broker
    first_committed, second_published = threading.Event(), threading.Event()
    real_publish = broker.publish

    async def publish(name, type, data):
        if type == "comment" and data["text"] == "first":
            first_committed.set()  # a comment is published after its commit
            await asyncio.to_thread(second_published.wait, WAIT)
        event = await real_publish(name, type, data)
        if type == "comment" and data["text"] == "second":
            second_published.set()
        return event

    monkeypatch.setattr(broker, "publish", publish)
    # As on two servers, which share no lock (one server publishes in id order).
    monkeypatch.setattr(services_of(server.app), "order_locks", lambda stream_id: asyncio.Lock())
    with httpx.Client(base_url=server.url, timeout=WAIT) as client:
        _, headers = make_user(client, "owner")
        stream = make_stream(client, headers, status="live")
        path = f"/streams/{stream['id']}/comments"
        feed = open_feed(server.url, live_path(stream["id"]))
        wait_subscribed(server, stream["id"], wait_until)

        posted: dict[str, httpx.Response] = {}

        def post_first() -> None:
            with httpx.Client(base_url=server.url, timeout=WAIT) as other:
                posted["first"] = other.post(path, json={"text": "first"}, headers=headers)

        poster = threading.Thread(target=post_first)
        poster.start()
        try:
            assert first_committed.wait(WAIT), "the first comment was never published"
            posted["second"] = client.post(path, json={"text": "second"}, headers=headers)
        finally:
            second_published.set()
            poster.join(WAIT)
        assert not poster.is_alive()
        first, second = (posted[key].json() for key in ("first", "second"))
        assert first["id"] < second["id"]

        set_status(client, headers, stream["id"], "ended")
        assert feed.rest() == [comment(second), comment(first), END]
        feed.join()


def test_a_feed_resumes_after_the_last_comment_it_saw(
    server, client, make_user, make_stream, post_comment, set_status, open_feed
):
    _, headers = make_user(client, "owner")
    stream = make_stream(client, headers, status="live")
    seen, *missed = [post_comment(client, headers, stream["id"], f"c{n}") for n in range(4)]
    feed = open_feed(server.url, live_path(stream["id"]), {"since": seen["id"], "recent": 1})
    assert [feed.next_message() for _ in missed] == [comment(c) for c in missed]
    later = post_comment(client, headers, stream["id"], "live again")
    assert feed.next_message() == comment(later)
    set_status(client, headers, stream["id"], "ended")
    assert feed.rest() == [END]
    feed.join()


def test_missing_more_than_can_be_replayed_says_so_before_the_newest(
    server, client, make_user, make_stream, post_comment, open_feed, monkeypatch
):
    monkeypatch.setattr(comments, "MAX_REPLAY", 2)
    _, headers = make_user(client, "owner")
    stream = make_stream(client, headers, status="live")
    posted = [post_comment(client, headers, stream["id"], f"c{n}") for n in range(4)]
    feed = open_feed(server.url, live_path(stream["id"]), {"since": 0})
    reset = feed.next_message()
    assert reset["type"] == "reset" and "more than 2 comments missed" in reset["data"]["reason"]
    assert [feed.next_message(), feed.next_message()] == [comment(c) for c in posted[-2:]]
    feed.close()


def test_a_since_too_large_for_the_database_is_a_422(server, client, make_user, make_stream):
    _, headers = make_user(client, "owner")
    stream = make_stream(client, headers, status="live")
    response = client.get(live_path(stream["id"]), params={"since": "9" * 20})
    assert response.status_code == 422 and response.json()["detail"][0]["loc"][-1] == "since"


def test_one_server_publishes_concurrent_comments_in_id_order(
    server_factory, make_user, make_stream, monkeypatch
):
    """So a client resuming with ?since=<the last id it got> cannot skip an earlier one."""
    import concurrent.futures

    server = server_factory()
    broker = services_of(server.app).broker
    published: list[int] = []
    real_publish = broker.publish

    async def publish(name, type, data):
        if type == "comment":
            # A networked broker's publish takes a while, some longer than others (simulated
            # latency, not synchronisation: the order must hold however long it takes).
            await asyncio.sleep(0.005 * (data["id"] % 3))
            published.append(data["id"])
        return await real_publish(name, type, data)

    monkeypatch.setattr(broker, "publish", publish)
    with httpx.Client(base_url=server.url, timeout=WAIT) as client:
        _, headers = make_user(client, "owner")
        stream = make_stream(client, headers, status="live")
    path = f"{server.url}/streams/{stream['id']}/comments"

    def post(n: int) -> int:
        with httpx.Client(timeout=WAIT) as http:
            return http.post(path, json={"text": f"c{n}"}, headers=headers).status_code

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        assert set(pool.map(post, range(40))) == {201}
    assert len(published) == 40 and published == sorted(published)


def test_a_comment_may_span_lines(client, owner, make_stream, post_comment):
    _, headers = owner
    stream = make_stream(client, headers, status="live")
    posted = post_comment(client, headers, stream["id"], "one\r\ntwo\n\tthree")
    assert posted["text"] == "one\r\ntwo\n\tthree"
