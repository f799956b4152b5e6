"""A client that stops reading never stalls the room: its own mailbox overflows, it is
closed with 3008, and everyone else keeps receiving; the server keeps no backlog for it.
A client that is gone without closing stops answering pings and is closed too.

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
from streamverse.chat.connection import ChatConnection
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
        self.chat, self.count = chat, 0
        self.error: Exception | None = None
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


def write_buffers(server: BackgroundServer) -> int:
    """The most bytes any of the server's connections has waiting in its socket's buffer."""

    async def largest() -> int:
        assert server._server is not None
        transports = [
            getattr(c, "transport", None) for c in server._server.server_state.connections
        ]
        return max((t.get_write_buffer_size() for t in transports if t is not None), default=0)

    return server.call(largest())


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

    sent, buffered = 0, 0
    while services.broker.subscriber_count(topic) == 2:  # until the stalled one is dropped
        assert sent < 2000, "the stalled client was never dropped"
        publish(big_text())
        sent += 1
        buffered = max(buffered, write_buffers(server))
    # What the server held for it: at most its mailbox (8 events) and, in its socket's
    # buffer, one high-water mark (64 KiB) and the frame that crossed it; not the backlog.
    assert 0 < buffered <= 4 * len(big_text()), buffered
    assert sent * len(big_text()) > 8 * buffered  # far more went out than was kept
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
        connections = [c for c in room if isinstance(c, ChatConnection)]
        blocked = [c for c in connections if c.subscription and c.sends_started > c.sends_done]
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


def test_a_client_gone_without_closing_is_closed_when_its_pongs_stop(
    server_factory: Callable[..., BackgroundServer], make_stream: Any, wait_until: Any
) -> None:
    """A raw socket that completes the handshake, then never answers a ping (as a client
    whose network vanished): the server closes it with 1011, its reader keeps going."""
    server, stream, services, topic, publish = setup(
        server_factory, make_stream, ws_ping_interval_seconds=0.2, ws_ping_timeout_seconds=0.2
    )
    reader = Reader(ChatClient.open(server.ws_url, stream))  # answers pings by itself
    wait_until(lambda: services.broker.subscriber_count(topic) == 1, what="the reader")
    dead = socket.create_connection((server.host, server.port or 0))
    key = base64.b64encode(os.urandom(16)).decode()
    dead.sendall(
        f"GET /streams/{stream}/chat HTTP/1.1\r\nHost: {server.host}\r\n"
        f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    dead.settimeout(10)  # the deadline: the close comes after one ping and its timeout
    received = b""
    while chunk := dead.recv(65536):  # until the server closes the TCP connection
        received += chunk
    dead.close()
    assert received.startswith(b"HTTP/1.1 101 ")
    opcodes, close_code = server_frames(received.split(b"\r\n\r\n", 1)[1])
    assert 0x9 in opcodes, "the server pinged it"
    assert close_code == 1011  # keepalive ping timeout
    wait_until(lambda: hub_of(services).connections(stream) == 1, what="its handler to end")

    publish("last")  # the reader answered its pings and is still there
    reader.join(30)
    assert reader.error is None and reader.count == 1
    reader.chat.close()


def server_frames(data: bytes) -> tuple[list[int], int | None]:
    """The opcodes of a server's (unmasked) frames, and the close frame's code if any."""
    opcodes, close_code, at = [], None, 0
    while at + 2 <= len(data):
        opcode, length, at = data[at] & 0x0F, data[at + 1] & 0x7F, at + 2
        if length >= 126:
            size = 2 if length == 126 else 8
            length, at = int.from_bytes(data[at : at + size], "big"), at + size
        payload, at = data[at : at + length], at + length
        opcodes.append(opcode)
        if opcode == 0x8 and len(payload) >= 2:
            close_code = int.from_bytes(payload[:2], "big")
    return opcodes, close_code
