"""Bad input on the chat WebSocket, after OWASP's WebSocket cheat sheet: every malformed
message gets an ``error`` and the connection stays open; only what cannot be read (over
64 KiB), an unknown stream, a bad ``since`` or a foreign Origin ends it."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from streamverse.app import create_app
from streamverse.config import Settings
from streamverse.course.exercises.chat_client import ChatClient
from streamverse.notebook import BackgroundServer


@pytest.fixture
def live(client: httpx.Client, make_user: Any, make_stream: Any) -> dict[str, Any]:
    user, headers = make_user(client, "ada")
    return {"stream": make_stream(client, headers, status="live")["id"], "user": user}


@pytest.fixture
def ada(server: BackgroundServer, live: dict[str, Any]) -> Any:
    with ChatClient.open(server.ws_url, live["stream"], token=live["user"]["token"]) as chat:
        chat.next(lambda m: m["type"] == "history")
        yield chat


def error_of(chat: ChatClient, frame: str | bytes) -> dict[str, Any]:
    chat.connection.send(frame)
    reply = chat.next(lambda m: m["type"] == "error")
    assert chat.command({"type": "ping"})["type"] == "pong", "the connection must stay open"
    return dict(reply["data"])


@pytest.mark.parametrize(
    ("frame", "code", "words"),
    [
        ("hello", "invalid_json", "not JSON"),
        ("[1, 2]", "invalid_message", 'a JSON object with a "type"'),
        ('{"text": "no type"}', "invalid_message", '"type"'),
        ('{"type": "shout", "text": "hi"}', "unknown_type", "unknown message type 'shout'"),
        ('{"type": "send"}', "invalid_message", "text: Field required"),
        ('{"type": "send", "text": 42}', "invalid_message", "text: Input should be a valid string"),
        ('{"type": "ping", "extra": 1}', "invalid_message", "extra: Extra inputs"),
        ('{"type": "delete", "message_id": "7"}', "invalid_message", "message_id"),
        ('{"type": "send", "text": "   "}', "empty", "needs some text"),
        (b'{"type": "ping"}', "binary", "text"),
    ],
)
def test_malformed_messages_get_an_error_and_the_connection_stays_open(
    ada: ChatClient, frame: str | bytes, code: str, words: str
) -> None:
    error = error_of(ada, frame)
    assert error["code"] == code
    assert words in error["detail"]


def test_a_refused_command_echoes_its_ref(ada: ChatClient) -> None:
    ada.send('{"type": "shout", "ref": "mine"}')
    assert ada.next(lambda m: m["type"] == "error")["data"]["ref"] == "mine"


def test_a_message_over_the_length_limit_is_refused(ada: ChatClient) -> None:
    refused = ada.say("x" * 501)
    assert refused["data"]["code"] == "too_long"
    assert refused["data"]["detail"] == "at most 500 characters (this has 501)"
    far_over = ada.say("x" * 6000)  # the same answer however long, within the frame limit
    assert far_over["data"]["code"] == "too_long"
    assert far_over["data"]["detail"] == "at most 500 characters (this has 6000)"
    assert ada.say("x" * 500)["type"] == "ack"


OVER_64_KIB = [
    json.dumps({"type": "send", "text": "x" * (64 * 1024)}),
    json.dumps({"type": "send", "text": "é" * (33 * 1024)}, ensure_ascii=False),  # 66 KiB
    b"\0" * (64 * 1024 + 1),
    b"\0" * (1024 * 1024),
]
OVER_IDS = ["text", "two-byte characters", "binary", "1 MiB"]


@pytest.mark.parametrize("frame", OVER_64_KIB, ids=OVER_IDS)
def test_a_frame_over_64_kib_closes_with_1009(
    server: BackgroundServer, ada: ChatClient, live: dict[str, Any], frame: str | bytes
) -> None:
    """The server reads no frame past the limit (``app.server_options``: the websockets
    library closes it unread, where uvicorn's default would read 16 MiB), and goes on."""
    ada.connection.send(frame)
    closed = ada.closed()
    assert closed.code == 1009
    assert "65536 bytes" in closed.reason
    with ChatClient.open(server.ws_url, live["stream"], token=live["user"]["token"]) as again:
        assert again.command({"type": "ping"})["type"] == "pong"


@pytest.mark.parametrize("frame", OVER_64_KIB[:3], ids=OVER_IDS[:3])
def test_under_a_server_that_reads_bigger_frames_the_chat_closes_them_itself(
    tmp_path: Any, make_user: Any, make_stream: Any, frame: str | bytes
) -> None:
    """Served by a uvicorn configured by hand (a bigger ``ws_max_size``), the chat's own
    check still closes with 1009 and says the limit."""
    app = create_app(Settings(data_dir=tmp_path))
    app.state.server_options["ws_max_size"] = 16 * 1024 * 1024
    with BackgroundServer(app) as server, httpx.Client(base_url=server.url) as http:
        user, headers = make_user(http, "ada")
        stream = make_stream(http, headers, status="live")["id"]
        with ChatClient.open(server.ws_url, stream, token=user["token"]) as chat:
            chat.next(lambda m: m["type"] == "history")
            chat.connection.send(frame)
            closed = chat.closed()
    assert closed.code == 1009
    assert closed.reason == "message too big: at most 65536 bytes"


@pytest.mark.parametrize(
    "frame", ['{"type": "ping", "pad": "' + "x" * 60_000 + '"}', b"\0" * (64 * 1024)]
)
def test_a_frame_of_up_to_64_kib_is_read_and_answered(ada: ChatClient, frame: str | bytes) -> None:
    error = error_of(ada, frame)
    assert error["code"] == ("binary" if isinstance(frame, bytes) else "invalid_message")


def test_an_unknown_stream_closes_with_1008_and_a_reason(server: BackgroundServer) -> None:
    with connect(f"{server.ws_url}/streams/nope/chat") as websocket:
        with pytest.raises(ConnectionClosed):
            websocket.recv(10)
        assert websocket.close_code == 1008
        assert websocket.close_reason == "stream 'nope' not found"


@pytest.mark.parametrize("since", ["abc", "-1", "1.5", "9" * 20])
def test_a_malformed_since_closes_with_1008(
    server: BackgroundServer, live: dict[str, Any], since: str
) -> None:
    with connect(f"{server.ws_url}/streams/{live['stream']}/chat?since={since}") as websocket:
        with pytest.raises(ConnectionClosed):
            websocket.recv(10)
        assert websocket.close_code == 1008
        assert websocket.close_reason == "since must be the id of the last message received"


def test_a_foreign_origin_is_refused_at_the_handshake(
    server: BackgroundServer, live: dict[str, Any]
) -> None:
    with pytest.raises(InvalidStatus) as refused:
        ChatClient.open(server.ws_url, live["stream"], origin="https://evil.example")
    response = refused.value.response
    assert response.status_code == 403
    assert json.loads(response.body) == {
        "detail": "origin 'https://evil.example' may not open this chat"
    }


def test_same_origin_and_no_origin_are_allowed(
    server: BackgroundServer, live: dict[str, Any]
) -> None:
    host = server.url.removeprefix("http://")
    for origin in (f"http://{host}", f"https://{host}", None):
        with ChatClient.open(server.ws_url, live["stream"], origin=origin) as chat:
            assert chat.welcome is not None and chat.welcome["type"] == "welcome"


def test_the_origin_allow_list_is_configurable(
    server_factory: Callable[..., BackgroundServer], make_user: Any, make_stream: Any
) -> None:
    server = server_factory(chat_allowed_origins=["https://app.example"])
    with httpx.Client(base_url=server.url) as http:
        _, headers = make_user(http, "ada")
        stream = make_stream(http, headers)
    with ChatClient.open(server.ws_url, stream["id"], origin="https://app.example") as chat:
        assert chat.welcome is not None
    with pytest.raises(InvalidStatus):
        ChatClient.open(server.ws_url, stream["id"], origin="https://other.example")


def test_a_flood_of_messages_is_slowed_down_not_disconnected(
    server_factory: Callable[..., BackgroundServer], make_user: Any, make_stream: Any
) -> None:
    server = server_factory(chat_commands_per_second=1.0)  # a burst of 2, then 1 a second
    with httpx.Client(base_url=server.url) as http:
        _, headers = make_user(http, "ada")
        stream = make_stream(http, headers)
    with ChatClient.open(server.ws_url, stream["id"]) as chat:
        for ref in "abc":
            chat.send({"type": "ping", "ref": ref})
        replies = [chat.next(lambda m: m["type"] in ("pong", "error")) for _ in "abc"]
        assert [r["type"] for r in replies] == ["pong", "pong", "error"]
        assert replies[2]["data"]["code"] == "flood"
        assert 0 < replies[2]["data"]["retry_after"] <= 1.0
