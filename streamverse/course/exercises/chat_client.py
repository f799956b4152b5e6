"""A small synchronous chat client for checks, tests and lessons (``websockets.sync``).

Each ``recv`` waits with a deadline; ``command`` sends a command with a ``ref`` and returns
the ``ack`` or ``error`` that answers it, keeping whatever else arrived meanwhile in
``backlog``, so a caller never loses a message while waiting for another.

    with ChatClient.open(server.ws_url, stream_id, token=ada["token"]) as ada_chat:
        ada_chat.command({"type": "send", "text": "hi"})
"""

from __future__ import annotations

import itertools
import json
import socket
from collections import deque
from collections.abc import Callable
from typing import Any

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

Message = dict[str, Any]
WAIT = 10.0
REPLIES = ("ack", "error", "pong", "authenticated")
"""The messages that answer a command (and echo its ``ref``)."""


class ChatClosed(Exception):
    """The server closed the connection: ``code`` and ``reason`` say why."""

    def __init__(self, code: int | None, reason: str) -> None:
        super().__init__(f"closed with {code}: {reason}")
        self.code, self.reason = code, reason


class ChatClient:
    def __init__(self, connection: ClientConnection) -> None:
        self.connection = connection
        self.backlog: deque[Message] = deque()
        self.welcome: Message | None = None
        self.user: Message | None = None
        self.last_id: int | None = None
        """The id to reconnect with: the newest broadcast id (or history/reset last_id)."""
        self.frames = 0
        """Frames received (a frame may hold several messages)."""
        self._unread: deque[Message] = deque()
        self._refs = itertools.count(1)

    @classmethod
    def open(
        cls,
        ws_url: str,
        stream_id: str,
        *,
        token: str | None = None,
        since: int | None = None,
        origin: str | None = None,
        sock: socket.socket | None = None,
        **options: Any,
    ) -> ChatClient:
        """Connect, read the welcome, and sign in when ``token`` is given."""
        url = f"{ws_url}/streams/{stream_id}/chat"
        if since is not None:
            url += f"?since={since}"
        headers = {"Origin": origin} if origin else None
        options.setdefault("ping_interval", None)  # a test client answers pings, never sends
        connecting = connect(
            url, additional_headers=headers, sock=sock, open_timeout=WAIT, **options
        )
        client = cls(connecting.__enter__())  # as a context manager: closed by close()
        client.welcome = client.recv()
        if token is not None:
            client.user = client.auth(token)
        return client

    def auth(self, token: str) -> Message:
        """Sign in; the ``authenticated`` message (or raise with the error)."""
        self.send({"type": "auth", "token": token})
        answer = self.next(lambda m: m["type"] in ("authenticated", "error"))
        if answer["type"] == "error":
            raise RuntimeError(answer["data"]["detail"])
        return answer

    def send(self, message: Message | str) -> None:
        self.connection.send(message if isinstance(message, str) else json.dumps(message))

    def recv(self, timeout: float = WAIT) -> Message:
        """The next message (from the backlog first); ``ChatClosed`` when the server closed."""
        if self.backlog:
            return self.backlog.popleft()
        return self._read(timeout)

    def _read(self, timeout: float) -> Message:
        """The next message: a frame holds one or more, one per line."""
        if not self._unread:
            try:
                frame = self.connection.recv(timeout)
            except ConnectionClosed as closed:
                received = closed.rcvd
                raise ChatClosed(
                    received.code if received else None, received.reason if received else ""
                ) from None
            self.frames += 1
            self._unread.extend(json.loads(line) for line in str(frame).split("\n"))
        message: Message = self._unread.popleft()
        self._note(message)
        return message

    def _note(self, message: Message) -> None:
        if "id" in message and message["type"] not in ("reset",):
            self.last_id = message["id"]
        if message["type"] in ("history", "reset"):
            self.last_id = message["data"]["last_id"]

    def next(self, predicate: Callable[[Message], bool], timeout: float = WAIT) -> Message:
        """The first message that satisfies ``predicate``; the others stay in the backlog."""
        for index, message in enumerate(self.backlog):
            if predicate(message):
                del self.backlog[index]
                return message
        while True:
            message = self._read(timeout)
            if predicate(message):
                return message
            self.backlog.append(message)

    def until(self, predicate: Callable[[Message], bool], timeout: float = WAIT) -> list[Message]:
        """Every message up to and including the first that satisfies ``predicate``."""
        got = []
        while True:
            message = self.recv(timeout)
            got.append(message)
            if predicate(message):
                return got

    def command(self, message: Message, timeout: float = WAIT) -> Message:
        """Send ``message`` with a fresh ``ref``; the reply that echoes it (``REPLIES``)."""
        ref = f"r{next(self._refs)}"
        self.send({**message, "ref": ref})
        return self.next(
            lambda m: m["type"] in REPLIES and m["data"].get("ref") == ref,
            timeout,
        )

    def say(self, text: str) -> Message:
        """Post a chat message; the ack (or error)."""
        return self.command({"type": "send", "text": text})

    def chats(self, count: int, timeout: float = WAIT) -> list[Message]:
        """The next ``count`` chat messages (others stay in the backlog)."""
        return [self.next(lambda m: m["type"] == "chat", timeout) for _ in range(count)]

    def closed(self, timeout: float = WAIT) -> ChatClosed:
        """Read until the server closes; the close (code and reason)."""
        try:
            while True:
                self._read(timeout)
        except ChatClosed as closed:
            return closed

    def close(self) -> None:
        self.connection.close()

    def __enter__(self) -> ChatClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def texts(messages: list[Message]) -> list[str]:
    """``name: text`` of each chat message."""
    chats = [m["data"] for m in messages if m["type"] == "chat"]
    return [f"{data['user_name']}: {data['text']}" for data in chats]
