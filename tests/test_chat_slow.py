"""A client that stops reading never stalls the room: its own mailbox overflows, it is
closed with 3008, and everyone else keeps receiving; the server keeps no backlog for it.

The stalled client is a real WebSocket whose socket has a tiny receive buffer and which
never calls ``recv``; the kernel's buffers fill, then the server's send to it blocks, then
its broker mailbox fills. Events are published straight to the room's topic (large ones,
so that takes a few dozen, not thousands); the well-behaved reader reads in a thread.
"""

from __future__ import annotations

import base64
import os
import socket
import threading
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from streamverse.broker import topics
from streamverse.chat.hub import hub_of
from streamverse.course.exercises.chat_client import ChatClient
from streamverse.notebook import BackgroundServer
from streamverse.services import services_of

pytestmark = pytest.mark.timeout(60)


def stalled_socket(server: BackgroundServer) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((server.host, server.port or 0))
    return sock


class Reader(threading.Thread):
    """Reads chat messages until one says ``last``; counts them."""

    def __init__(self, chat: ChatClient) -> None:
        super().__init__(daemon=True)
        self.chat, self.count, self.error = chat, 0, None
        self.start()

    def run(self) -> None:
        try:
            while True:
                message = self.chat.next(lambda m: m["type"] == "chat", timeout=30)
                self.count += 1
                if message["data"]["text"] == "last":
                    return
        except Exception as error:  # reported by the test
            self.error = error


def setup(server_factory: Callable[..., BackgroundServer], make_stream: Any, **settings: Any):
    server = server_factory(**settings)
    with httpx.Client(base_url=server.url) as http:
        user = http.post("/users", json={"name": "ada"}).json()
        stream = make_stream(http, {"Authorization": f"Bearer {user['token']}"}, status="live")
    services = services_of(server.app)
    topic = topics.chat(stream["id"])

    def publish(text: str) -> None:
        data = {"stream_id": stream["id"], "user_id": user["id"], "user_name": "ada"}
        data |= {"role": "owner", "text": text, "created_at": "2030-01-01T00:00:00Z"}
        server.call(services.broker.publish(topic, "chat", data))

    return server, stream["id"], services, topic, publish


def big_text() -> str:
    return base64.b64encode(os.urandom(48_000)).decode()  # random: compression cannot shrink it


def test_a_stalled_client_is_closed_with_3008_and_the_others_keep_receiving(
    server_factory: Callable[..., BackgroundServer], make_stream: Any, wait_until: Any
) -> None:
    server, stream, services, topic, publish = setup(
        server_factory, make_stream, subscriber_queue_size=8, chat_send_timeout_seconds=30.0
    )
    stalled = ChatClient.open(
        server.ws_url, stream, sock=stalled_socket(server), max_queue=1, close_timeout=1
    )
    reader = Reader(ChatClient.open(server.ws_url, stream))
    wait_until(lambda: services.broker.subscriber_count(topic) == 2, what="both subscribed")

    sent = 0
    while services.broker.subscriber_count(topic) == 2:  # until the stalled one is dropped
        assert sent < 2000, "the stalled client was never dropped"
        publish(big_text())
        sent += 1
    for _ in range(10):  # the room goes on without it
        publish("after the drop")
        sent += 1
    publish("last")
    reader.join(30)
    assert reader.error is None and reader.count == sent + 1

    closed = stalled.closed()  # reading again: what was buffered, then the close frame
    assert closed.code == 3008
    assert closed.reason.startswith("too slow (")
    assert "reconnect with since=" in closed.reason
    wait_until(lambda: hub_of(services).connections(stream) == 1, what="its handler to end")
    stalled.close()
    reader.chat.close()


def test_a_client_stuck_on_one_send_is_cut_after_the_send_timeout(
    server_factory: Callable[..., BackgroundServer], make_stream: Any, wait_until: Any
) -> None:
    """A quiet room: the mailbox never overflows, but one send has waited too long."""
    server, stream, services, topic, publish = setup(
        server_factory, make_stream, subscriber_queue_size=1000, chat_send_timeout_seconds=0.5
    )
    stalled = ChatClient.open(
        server.ws_url, stream, sock=stalled_socket(server), max_queue=1, close_timeout=1
    )
    reader = Reader(ChatClient.open(server.ws_url, stream))
    wait_until(lambda: services.broker.subscriber_count(topic) == 2, what="both subscribed")
    hub = hub_of(services)

    def backlog() -> int:  # events waiting behind a send that is blocked: the stalled client's
        room = hub.rooms.get(stream, set())
        blocked = [c for c in room if c.subscription and c.sends_started > c.sends_done]
        return max((c.subscription.pending() for c in blocked if c.subscription), default=0)

    sent = 0
    while backlog() < 20:  # its send is blocked: events pile up behind it
        assert sent < 500, "the stalled client never blocked"
        publish(big_text())
        sent += 1
    wait_until(lambda: hub.connections(stream) == 1, what="the stuck client to be cut")
    publish("last")
    reader.join(30)
    assert reader.error is None and reader.count == sent + 1
    assert services.broker.subscriber_count(topic) == 1  # its mailbox is gone
    stalled.close()
    reader.chat.close()
