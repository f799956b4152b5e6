"""Lesson 04, exercise "a room a slow client cannot stall": a WebSocket handler on the broker.

The learner writes ``async def room(websocket, broker, users)``, the outline's chat done
right in a few lines:

* accept; the first message is ``{"type": "auth", "token": ...}``; a token that is not a
  key of ``users`` (token -> name) is closed with 1008;
* subscribe to ``LOBBY`` (``broker.subscribe``) and, at the same time, send each event to
  the client as ``{"type": "chat", "id": event.id, "user": ..., "text": ...}`` (the event's
  data holds ``user`` and ``text``) and publish each ``{"type": "send", "text": ...}`` the
  client sends as ``broker.publish(LOBBY, "chat", {"user": <the token's name>, "text": ...})``;
* when the broker drops the subscription (``SubscriberDropped``: the client fell behind),
  close with 3008; when the client leaves, stop.

``check_room(room)`` mounts it at ``/rooms/lobby`` in an app on a real server, with a broker
whose mailboxes hold 8 events, and drives it with real WebSocket clients, one of which
stops reading.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import socket
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, WebSocket
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from ...broker import Broker, Topic
from ...notebook import BackgroundServer
from ..checks import Check, Hints, Result, run_checks

LOBBY = Topic("room:lobby")
USERS = {"t-ada": "ada", "t-bo": "bo", "t-cy": "cy"}
WAIT = 10.0
Room = Callable[[WebSocket, Broker, dict[str, str]], Awaitable[None]]


class Lobby:
    """The learner's handler at ``/rooms/lobby`` on a real server, started on first use."""

    def __init__(self, room: Room) -> None:
        self.room = room
        self.broker = Broker(queue_size=8)
        self.server: BackgroundServer | None = None
        self.unwritten = False
        self.clients: list[ClientConnection] = []

    def url(self) -> str:
        if self.server is None:
            self.server = BackgroundServer(self.app())
        return f"{self.server.ws_url}/rooms/lobby"

    def app(self) -> FastAPI:
        broker, lobby = self.broker, self

        @asynccontextmanager
        async def lifespan(app: FastAPI) -> AsyncIterator[None]:
            await broker.connect()
            yield
            await broker.close()

        app = FastAPI(lifespan=lifespan)

        @app.websocket("/rooms/lobby")
        async def endpoint(websocket: WebSocket) -> None:
            try:
                await lobby.room(websocket, broker, dict(USERS))
            except NotImplementedError:
                lobby.unwritten = True
                raise

        return app

    def join(self, token: str, **options: Any) -> ClientConnection:
        client: ClientConnection = connect(
            self.url(), open_timeout=WAIT, ping_interval=None, **options
        ).__enter__()
        self.clients.append(client)
        client.send(json.dumps({"type": "auth", "token": token}))
        return client

    def subscribers(self) -> int:
        assert self.server is not None
        count: int = self.server.call(_count(self.broker))
        return count

    def wait_subscribers(self, count: int) -> bool:
        for _ in range(int(WAIT / 0.02)):
            if self.subscribers() == count:
                return True
            threading.Event().wait(0.02)
        return False

    def publish(self, text: str) -> None:
        assert self.server is not None
        self.server.call(self.broker.publish(LOBBY, "chat", {"user": "host", "text": text}))

    def close(self) -> None:
        for client in self.clients:
            with contextlib.suppress(Exception):
                client.close()
        if self.server is not None:
            self.server.stop()


async def _count(broker: Broker) -> int:
    return broker.subscriber_count(LOBBY)


def _next_chat(client: ClientConnection) -> dict[str, Any]:
    message: dict[str, Any] = json.loads(client.recv(WAIT))
    return message


def close_code(client: ClientConnection, within: float = WAIT) -> int | None:
    """Read until the server closes; its close code (None: it never did)."""
    try:
        while True:
            client.recv(within)
    except ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd else None
    except TimeoutError:
        return None


class Checks:
    def __init__(self, lobby: Lobby) -> None:
        self.lobby = lobby
        self.stalled: ClientConnection | None = None
        self.reader: ClientConnection | None = None

    def guard(self, step: Callable[[], str | None]) -> Callable[[], str | None]:
        def run() -> str | None:
            try:
                problem = step()
            except Exception as error:  # the learner's server failed us: say how
                problem = f"the connection failed: {type(error).__name__}: {error}"
            if self.lobby.unwritten:
                return "not written yet (room() raises NotImplementedError)"
            return problem

        return run

    def refuses_strangers(self) -> str | None:
        stranger = self.lobby.join("t-mallory")
        code = close_code(stranger, within=3.0)
        stranger.close()
        if code != 1008:
            return f"a client with an unknown token was {_closed(code)}, expected closed with 1008"
        return None

    def delivers(self) -> str | None:
        self.lobby.wait_subscribers(0)  # a stranger let in has gone by now
        ada, bo = self.lobby.join("t-ada"), self.lobby.join("t-bo")
        if not self.lobby.wait_subscribers(2):
            return "ada and bo signed in, but the broker never had 2 subscribers"
        self.reader = bo
        try:
            ada.send(json.dumps({"type": "send", "text": "hi all", "user": "mallory"}))
            want = {"type": "chat", "user": "ada", "text": "hi all"}
            for name, client in (("ada", ada), ("bo", bo)):
                got = _next_chat(client)
                if {key: got.get(key) for key in want} != want or not isinstance(
                    got.get("id"), int
                ):
                    return f"{name} received {got!r}, expected {want} with the event's id"
            return None
        finally:
            ada.close()

    def not_stalled(self) -> str | None:
        reader = self.reader
        if reader is None:
            return "skipped: the previous check did not pass"
        if not self.lobby.wait_subscribers(1):
            left = self.lobby.subscribers()
            return f"ada left, but {left} subscriptions are still open (expected bo's only)"
        assert self.lobby.server is not None
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # it buffers little
        sock.connect(("127.0.0.1", self.lobby.server.port or 0))
        self.stalled = self.lobby.join("t-cy", sock=sock, max_queue=1)
        if not self.lobby.wait_subscribers(2):
            return "cy signed in, but never subscribed"
        got: list[int] = []
        thread = threading.Thread(target=_read_all, args=(reader, got), daemon=True)
        thread.start()
        sent = 0
        while self.lobby.subscribers() == 2 and sent < 400:  # until cy's mailbox overflows
            self.lobby.publish(base64.b64encode(os.urandom(48_000)).decode())
            sent += 1
        for _ in range(5):
            self.lobby.publish("after")
        self.lobby.publish("last")
        thread.join(WAIT * 2)
        if len(got) < sent + 6:
            return f"with cy not reading, bo received {len(got)} of {sent + 6} messages"
        if sent >= 400:
            return (
                "cy read nothing for 400 large messages and was never dropped: does each "
                "connection read from its own broker subscription (a bounded mailbox)?"
            )
        return None

    def closes_slow(self) -> str | None:
        if self.stalled is None:
            return "skipped: the previous check did not pass"
        code = close_code(self.stalled)  # reading at last: what was buffered, then the close
        if code != 3008:
            return f"the client that fell behind was {_closed(code)}, expected 3008"
        return None

    def cleans_up(self) -> str | None:
        for client in self.lobby.clients:
            client.close()
        if not self.lobby.wait_subscribers(0):
            left = self.lobby.subscribers()
            return f"every client left, but {left} subscription(s) stayed open"
        return None


def _read_all(client: ClientConnection, got: list[int]) -> None:
    with contextlib.suppress(Exception):
        while True:
            message = json.loads(client.recv(5.0))  # a live room is never quiet this long
            got.append(message.get("id", 0))
            if message.get("text") == "last":
                return


def _closed(code: int | None) -> str:
    return "never closed" if code is None else f"closed with {code}"


def check_room(room: Room, hints: Hints = "first") -> list[Result]:
    """Check a ``room(websocket, broker, users)`` handler on a real server; never raises."""
    lobby = Lobby(room)
    steps = Checks(lobby)
    try:
        return run_checks(
            [
                Check(
                    "an unknown token is closed with 1008",
                    steps.guard(steps.refuses_strangers),
                    "await websocket.accept(); first = await websocket.receive_json(); "
                    "name = users.get(first.get('token')); if it is None: "
                    "await websocket.close(1008, 'unknown token')",
                ),
                Check(
                    "every client gets each message, signed with the token's name",
                    steps.guard(steps.delivers),
                    "async with broker.subscribe(LOBBY) as subscription: one task sends "
                    "{'type': 'chat', 'id': event.id, **event.data} for each event; the "
                    "handler publishes {'user': name, 'text': message['text']}, never a user "
                    "the client sent",
                ),
                Check(
                    "a client that stops reading does not stall the room",
                    steps.guard(steps.not_stalled),
                    "each connection sends from its own subscription, in its own task: never "
                    "loop over every socket awaiting each send",
                ),
                Check(
                    "the client that fell behind is closed with 3008",
                    steps.guard(steps.closes_slow),
                    "iterating a dropped subscription raises SubscriberDropped (from "
                    "streamverse.broker): catch it and await websocket.close(3008, 'too slow')",
                ),
                Check(
                    "leaving cleans up",
                    steps.guard(steps.cleans_up),
                    "when receive raises WebSocketDisconnect, leave the async with (and cancel "
                    "the sending task): the subscription closes with it",
                ),
            ],
            hints,
            all_hints='check_room(room, hints="all")',
        )
    finally:
        with contextlib.suppress(Exception):
            lobby.close()
