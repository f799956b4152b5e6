"""The chat room over real WebSockets: join, history, who speaks, presence, analytics.

Every client is a real ``websockets`` connection to a real uvicorn (``ChatClient``); each
wait is a read with a deadline, never a sleep.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from streamverse.chat.schemas import SERVER_MESSAGES
from streamverse.course.exercises.chat_client import ChatClient, ChatClosed, texts
from streamverse.notebook import BackgroundServer

Open = Callable[..., ChatClient]


@pytest.fixture
def chat(server: BackgroundServer) -> Any:
    """``chat(stream_id, token=..., since=...)`` opens a client; all are closed afterwards."""
    clients: list[ChatClient] = []

    def opener(stream_id: str, **options: Any) -> ChatClient:
        client = ChatClient.open(server.ws_url, stream_id, **options)
        clients.append(client)
        return client

    yield opener
    for client in clients:
        client.close()


@pytest.fixture
def room(client: httpx.Client, make_user: Any, make_stream: Any) -> dict[str, Any]:
    owner, headers = make_user(client, "ada")
    viewer, _ = make_user(client, "bo")
    stream = make_stream(client, headers, status="live")
    return {"stream": stream["id"], "ada": owner, "bo": viewer, "headers": headers}


def test_two_users_chat_and_every_message_has_the_tokens_author(chat: Open, room: dict) -> None:
    ada = chat(room["stream"], token=room["ada"]["token"])
    bo = chat(room["stream"], token=room["bo"]["token"])
    assert ada.user is not None and ada.user["data"]["role"] == "owner"
    assert bo.user is not None and bo.user["data"]["role"] == "viewer"

    sent = ada.say("hello bo")
    assert sent["type"] == "ack" and isinstance(sent["data"]["id"], int)
    assert bo.say("hi ada")["type"] == "ack"

    for reader in (ada, bo):
        got = reader.chats(2)
        assert texts(got) == ["ada: hello bo", "bo: hi ada"]
        assert got[0]["id"] == sent["data"]["id"] < got[1]["id"]
        assert [m["data"]["user_id"] for m in got] == [room["ada"]["id"], room["bo"]["id"]]
        for message in got:
            SERVER_MESSAGES.validate_python(message)  # the documented schema


def test_a_client_cannot_speak_as_someone_else(chat: Open, room: dict) -> None:
    """The outline trusted ?user_id=; here the author comes from the token only."""
    bo = chat(room["stream"], token=room["bo"]["token"])
    spoof = bo.command({"type": "send", "text": "I am ada", "user_id": room["ada"]["id"]})
    assert spoof["type"] == "error" and spoof["data"]["code"] == "invalid_message"
    assert "user_id" in spoof["data"]["detail"]

    reader = chat(room["stream"])
    bo.say("just bo")
    [message] = reader.chats(1)
    assert message["data"]["user_id"] == room["bo"]["id"]


def test_an_unauthenticated_connection_reads_but_cannot_post(chat: Open, room: dict) -> None:
    anonymous = chat(room["stream"])
    refused = anonymous.say("let me in")
    assert refused["data"]["code"] == "not_authenticated"
    bad = anonymous.command({"type": "auth", "token": "not-a-token"})
    assert bad["type"] == "error" and bad["data"]["code"] == "unauthorized"

    ada = chat(room["stream"], token=room["ada"]["token"])
    ada.say("readers read")
    assert texts(anonymous.chats(1)) == ["ada: readers read"]


def test_auth_after_the_deadline_is_refused_but_reading_goes_on(
    server_factory: Callable[..., BackgroundServer], make_user: Any, make_stream: Any
) -> None:
    server = server_factory(chat_auth_timeout_seconds=1e-9)  # already over at the first read
    with httpx.Client(base_url=server.url) as http:
        user, headers = make_user(http, "ada")
        stream = make_stream(http, headers, status="live")
    with ChatClient.open(server.ws_url, stream["id"]) as late:
        refused = late.command({"type": "auth", "token": user["token"]})
        assert refused["data"]["code"] == "auth_timeout"
        assert late.command({"type": "ping"})["type"] == "pong"
        assert late.say("hello")["data"]["code"] == "not_authenticated"


def test_join_gets_the_last_messages_oldest_first_without_deleted_ones(
    server_factory: Callable[..., BackgroundServer], make_user: Any, make_stream: Any
) -> None:
    server = server_factory(chat_history=3)
    with httpx.Client(base_url=server.url) as http:
        user, headers = make_user(http, "ada")
        stream = make_stream(http, headers, status="live")
    with ChatClient.open(server.ws_url, stream["id"], token=user["token"]) as ada:
        ids = [ada.say(f"m{n}")["data"]["id"] for n in range(5)]
        assert ada.command({"type": "delete", "message_id": ids[3]})["type"] == "ack"
        with ChatClient.open(server.ws_url, stream["id"]) as late:
            history = late.recv()
    assert history["type"] == "history"
    assert texts(history["data"]["messages"]) == ["ada: m1", "ada: m2", "ada: m4"]
    assert history["data"]["last_id"] > ids[-1]  # the delete's own event came after


def test_welcome_then_history_then_presence(chat: Open, room: dict) -> None:
    watcher = chat(room["stream"])
    assert watcher.welcome is not None and watcher.welcome["type"] == "welcome"
    assert watcher.welcome["data"]["modes"] == {
        "slow_seconds": 0,
        "emote_only": False,
        "links_allowed": True,
    }
    assert watcher.recv()["type"] == "history"

    ada = chat(room["stream"], token=room["ada"]["token"])
    assert watcher.next(lambda m: m["type"] == "presence")["data"] == {"viewers": 1}
    bo = chat(room["stream"], token=room["bo"]["token"])
    assert bo.welcome is not None and bo.welcome["data"]["viewers"] == 1  # before bo signed in
    assert watcher.next(lambda m: m["type"] == "presence")["data"] == {"viewers": 2}
    bo.close()
    assert watcher.next(lambda m: m["type"] == "presence")["data"] == {"viewers": 1}
    ada.close()


def test_chat_counts_in_the_streams_analytics(chat: Open, room: dict, client: httpx.Client) -> None:
    ada = chat(room["stream"], token=room["ada"]["token"])
    for n in range(3):
        ada.say(f"busy {n}")
    numbers = client.get(f"/streams/{room['stream']}/analytics").json()
    assert numbers["comments_per_minute"] >= 3


def test_an_ended_stream_sends_the_history_then_ends_with_1000(
    chat: Open, room: dict, client: httpx.Client, set_status: Any
) -> None:
    ada = chat(room["stream"], token=room["ada"]["token"])
    ada.say("last words")
    watcher = chat(room["stream"])
    set_status(client, room["headers"], room["stream"], "ended")
    assert watcher.next(lambda m: m["type"] == "ended")["data"] == {"reason": "stream ended"}
    closed = watcher.closed()
    assert (closed.code, closed.reason) == (1000, "stream ended")

    later = chat(room["stream"])
    assert texts(later.recv()["data"]["messages"]) == ["ada: last words"]
    assert later.recv()["type"] == "ended"
    assert later.closed().code == 1000


def test_history_survives_a_restart(tmp_path: Any, make_user: Any, make_stream: Any) -> None:
    from conftest import start_server

    first = start_server(tmp_path)
    try:
        with httpx.Client(base_url=first.url) as http:
            user, headers = make_user(http, "ada")
            stream = make_stream(http, headers, status="live")
        with ChatClient.open(first.ws_url, stream["id"], token=user["token"]) as ada:
            ada.say("before the restart")
            last = ada.chats(1)[0]["id"]
    finally:
        first.stop()
    second = start_server(tmp_path)
    try:
        with ChatClient.open(second.ws_url, stream["id"]) as fresh:
            assert texts(fresh.recv()["data"]["messages"]) == ["ada: before the restart"]
        with ChatClient.open(second.ws_url, stream["id"], since=last) as resumed:
            reset = resumed.recv()
            assert reset["type"] == "reset"  # ids start from the clock: the old one is older
            history = resumed.recv()
            assert texts(history["data"]["messages"]) == ["ada: before the restart"]
            assert history["data"]["last_id"] == reset["data"]["last_id"] > last
    finally:
        second.stop()


def test_the_server_closes_with_1012_on_shutdown(
    server_factory: Callable[..., BackgroundServer], make_user: Any, make_stream: Any
) -> None:
    server = server_factory()
    with httpx.Client(base_url=server.url) as http:
        _, headers = make_user(http, "ada")
        stream = make_stream(http, headers, status="live")
    watcher = ChatClient.open(server.ws_url, stream["id"])
    watcher.recv()
    server.stop()
    assert watcher.closed().code == 1012  # "service restart": reconnect later, with since
    with pytest.raises(ChatClosed):
        watcher.recv()
