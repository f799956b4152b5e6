"""Rate limits and connection caps: the token bucket on its own (a fake clock), then over
real connections: ``retry_after``, more for moderators, caps per user and per address."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from streamverse.chat.ratelimit import RateLimiter, Slots, TokenBucket
from streamverse.course.exercises.chat_client import ChatClient, ChatClosed
from streamverse.notebook import BackgroundServer


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_bucket_allows_a_burst_then_one_per_interval() -> None:
    bucket = TokenBucket(20, 30.0, now=0.0)
    assert [bucket.take(0.0) for _ in range(20)] == [0.0] * 20
    assert bucket.take(0.0) == pytest.approx(1.5)  # 30 s / 20 messages
    assert bucket.take(1.0) == pytest.approx(0.5)
    assert bucket.take(1.5) == 0.0
    assert bucket.take(1.5) == pytest.approx(1.5)
    assert not bucket.full(1.5) and bucket.full(1.5 + 30.0)


def test_a_bucket_never_holds_more_than_its_capacity() -> None:
    bucket = TokenBucket(3, 3.0, now=0.0)
    assert [bucket.take(1000.0) for _ in range(4)][-1] == pytest.approx(1.0)


def test_the_limiter_keeps_one_bucket_per_key_in_bounded_memory() -> None:
    clock = Clock()
    limiter = RateLimiter(clock, max_keys=10)
    assert limiter.take("ada", 1, 10.0) == 0.0
    assert limiter.take("ada", 1, 10.0) == pytest.approx(10.0)
    assert limiter.take("bo", 1, 10.0) == 0.0  # another key, another bucket
    assert limiter.take("ada", 5, 10.0) == 0.0  # a new role: a new bucket
    for n in range(100):
        limiter.take(n, 1, 10.0)
    assert len(limiter) <= 10
    clock.now = 100.0
    limiter.prune()
    assert len(limiter) == 0  # refilled buckets are no different from new ones


def test_slots_cap_each_key() -> None:
    slots = Slots()
    assert slots.acquire("ada", 2) and slots.acquire("ada", 2)
    assert not slots.acquire("ada", 2)
    assert slots.acquire("bo", 2) and slots.acquire("ada", 0)  # 0: no limit
    slots.release("ada")
    assert slots.count("ada") == 2


@pytest.fixture
def limited(
    server_factory: Callable[..., BackgroundServer], make_user: Any, make_stream: Any
) -> Callable[..., tuple[BackgroundServer, str, dict[str, Any], dict[str, Any]]]:
    def make(**settings: Any) -> tuple[BackgroundServer, str, dict[str, Any], dict[str, Any]]:
        server = server_factory(**settings)
        with httpx.Client(base_url=server.url) as http:
            owner, headers = make_user(http, "ada")
            viewer, _ = make_user(http, "bo")
            stream = make_stream(http, headers, status="live")
        return server, stream["id"], owner, viewer

    return make


def test_a_viewer_over_the_rate_gets_retry_after_and_the_owner_gets_more(limited: Any) -> None:
    server, stream, owner, viewer = limited(
        chat_rate_messages=3, chat_rate_messages_moderator=5, chat_rate_seconds=60.0
    )
    with ChatClient.open(server.ws_url, stream, token=viewer["token"]) as bo:
        assert bo.user is not None
        assert (bo.user["data"]["rate_messages"], bo.user["data"]["rate_seconds"]) == (3, 60.0)
        assert [bo.say(f"m{n}")["type"] for n in range(3)] == ["ack"] * 3
        refused = bo.say("one too many")
        assert refused["data"]["code"] == "rate_limited"
        assert refused["data"]["detail"].startswith("slow down: 3 messages per 60 s; wait ")
        assert 19 < refused["data"]["retry_after"] <= 20  # one message every 20 s
    with ChatClient.open(server.ws_url, stream, token=owner["token"]) as ada:
        assert [ada.say(f"m{n}")["type"] for n in range(6)] == ["ack"] * 5 + ["error"]


def test_connections_per_user_are_capped(limited: Any) -> None:
    server, stream, _, viewer = limited(chat_max_connections_per_user=2)
    first = ChatClient.open(server.ws_url, stream, token=viewer["token"])
    second = ChatClient.open(server.ws_url, stream, token=viewer["token"])
    third = ChatClient.open(server.ws_url, stream)
    third.send({"type": "auth", "token": viewer["token"]})
    closed = third.closed()
    assert (closed.code, closed.reason) == (1013, "too many chat connections for bo (at most 2)")
    first.close()
    with ChatClient.open(server.ws_url, stream) as again:  # a slot came free
        again.next(lambda m: m["type"] == "history")
        assert again.auth(viewer["token"])["type"] == "authenticated"
    second.close()


def test_connections_per_address_are_capped(limited: Any) -> None:
    server, stream, _, _ = limited(chat_max_connections_per_ip=2)
    first = ChatClient.open(server.ws_url, stream)
    second = ChatClient.open(server.ws_url, stream)
    with pytest.raises(ChatClosed) as refused:
        ChatClient.open(server.ws_url, stream)
    assert refused.value.code == 1013
    assert refused.value.reason == "too many chat connections from your address (2)"
    first.close()
    second.close()
