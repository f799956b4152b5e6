"""Reconnecting with ``?since=<last id>``: exactly what was missed, or a reset and the
history when the server no longer has it; a deleted message never comes back."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from streamverse.course.exercises.chat_client import ChatClient, texts
from streamverse.notebook import BackgroundServer


@pytest.fixture
def room(server_factory: Callable[..., BackgroundServer], make_user: Any, make_stream: Any):
    def make(**settings: Any) -> tuple[BackgroundServer, str, dict, dict]:
        server = server_factory(**settings)
        with httpx.Client(base_url=server.url) as http:
            ada, headers = make_user(http, "ada")
            bo, _ = make_user(http, "bo")
            stream = make_stream(http, headers, status="live")
        return server, stream["id"], ada, bo

    return make


def test_a_client_that_reconnects_with_since_gets_exactly_what_it_missed(room: Any) -> None:
    server, stream, ada, bo = room()
    with (
        ChatClient.open(server.ws_url, stream, token=ada["token"]) as ada_chat,
        ChatClient.open(server.ws_url, stream, token=bo["token"]) as bo_chat,
    ):
        third = ChatClient.open(server.ws_url, stream)
        ada_chat.say("one")
        assert texts(third.chats(1)) == ["ada: one"]
        since = third.last_id
        third.close()

        ada_chat.say("two")
        bo_chat.say("three")
        ada_chat.say("four")
        [*_, last] = bo_chat.chats(4)

        with ChatClient.open(server.ws_url, stream, since=since) as back:
            missed = back.until(lambda m: m.get("id") == last["id"])
    chats = [m for m in missed if m["type"] == "chat"]
    assert texts(chats) == ["ada: two", "bo: three", "ada: four"]
    assert all(m["type"] in ("chat", "presence") for m in missed)  # no history, no doubles
    assert [m["id"] for m in missed] == sorted(m["id"] for m in missed)


def test_resuming_from_the_newest_id_replays_nothing(room: Any) -> None:
    server, stream, ada, _ = room()
    with ChatClient.open(server.ws_url, stream, token=ada["token"]) as ada_chat:
        ada_chat.say("seen")
        [seen] = ada_chat.chats(1)
        with ChatClient.open(server.ws_url, stream, since=seen["id"]) as back:
            ada_chat.say("new")
            assert texts(back.chats(1)) == ["ada: new"]


def test_a_since_older_than_the_history_gets_a_reset_then_the_newest(room: Any) -> None:
    server, stream, ada, _ = room(history_size=3, chat_history=2)
    with ChatClient.open(server.ws_url, stream, token=ada["token"]) as ada_chat:
        ada_chat.say("first")
        [first] = ada_chat.chats(1)
        for n in range(5):
            ada_chat.say(f"later {n}")
        [*_, newest] = ada_chat.chats(5)
        with ChatClient.open(server.ws_url, stream, since=first["id"]) as back:
            reset = back.recv()
            history = back.recv()
    assert reset["type"] == "reset" and reset["data"]["last_id"] >= newest["id"]
    assert history["type"] == "history"
    assert texts(history["data"]["messages"]) == ["ada: later 3", "ada: later 4"]
    assert history["data"]["last_id"] == reset["data"]["last_id"]


def test_a_future_since_gets_a_reset(room: Any) -> None:
    server, stream, *_ = room()
    with ChatClient.open(server.ws_url, stream, since=2**62) as back:
        assert back.recv()["type"] == "reset"
        assert back.recv()["type"] == "history"


def test_a_message_deleted_while_away_is_not_replayed(room: Any) -> None:
    server, stream, ada, bo = room()
    with (
        ChatClient.open(server.ws_url, stream, token=ada["token"]) as ada_chat,
        ChatClient.open(server.ws_url, stream, token=bo["token"]) as bo_chat,
    ):
        watcher = ChatClient.open(server.ws_url, stream)
        watcher.recv()
        since = watcher.last_id
        watcher.close()
        spam = bo_chat.say("buy cheap gold")["data"]["id"]
        ada_chat.say("welcome all")
        deleted = ada_chat.command({"type": "delete", "message_id": spam})
        assert deleted["type"] == "ack"

        with ChatClient.open(server.ws_url, stream, since=since) as back:
            missed = back.until(lambda m: m["type"] == "moderation")
    assert texts(missed) == ["ada: welcome all"]
    assert missed[-1]["data"]["action"] == "delete"
    assert missed[-1]["data"]["message_id"] == spam
