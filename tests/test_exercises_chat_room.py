"""The room-handler check: it passes a correct handler and fails each wrong one where it
should (the outline's broadcast loop among them)."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import pytest
from fastapi import WebSocket, WebSocketDisconnect

from streamverse.broker import Broker, SubscriberDropped
from streamverse.course.exercises.chat_room import LOBBY, check_room
from streamverse.notebook import running_servers

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

CHECKS = [
    "an unknown token is closed with 1008",
    "every client gets each message, signed with the token's name",
    "a client that stops reading does not stall the room",
    "the client that fell behind is closed with 3008",
    "leaving cleans up",
]


async def sign_in(websocket: WebSocket, users: dict[str, str]) -> str | None:
    await websocket.accept()
    first = await websocket.receive_json()
    name = users.get(first.get("token")) if first.get("type") == "auth" else None
    if name is None:
        await websocket.close(1008, "unknown token")
    return name


async def reference(websocket: WebSocket, broker: Broker, users: dict[str, str]) -> None:
    """A correct handler, written as the solution notebook's."""
    name = await sign_in(websocket, users)
    if name is None:
        return
    async with broker.subscribe(LOBBY) as subscription:

        async def pump() -> None:
            try:
                async for event in subscription:
                    await websocket.send_json({"type": "chat", "id": event.id, **event.data})
            except SubscriberDropped:
                await websocket.close(3008, "too slow")

        sending = asyncio.create_task(pump())
        try:
            while True:
                message = await websocket.receive_json()
                if message.get("type") == "send":
                    data = {"user": name, "text": str(message.get("text", ""))}
                    await broker.publish(LOBBY, "chat", data)
        except WebSocketDisconnect:
            pass
        finally:
            sending.cancel()


async def unwritten(websocket: WebSocket, broker: Broker, users: dict[str, str]) -> None:
    raise NotImplementedError


async def anyone(websocket: WebSocket, broker: Broker, users: dict[str, str]) -> None:
    await reference(websocket, broker, {**users, "t-mallory": "mallory"})


async def trusts_the_client(websocket: WebSocket, broker: Broker, users: dict[str, str]) -> None:
    await reference(websocket, broker, {token: "" for token in users})


SOCKETS: set[WebSocket] = set()


async def outline_loop(websocket: WebSocket, broker: Broker, users: dict[str, str]) -> None:
    """The outline's manager: one set of sockets, a loop that awaits each send in turn."""
    name = await sign_in(websocket, users)
    if name is None:
        return
    SOCKETS.add(websocket)
    async with broker.subscribe(LOBBY) as subscription:  # only to be counted

        async def forward() -> None:
            with contextlib.suppress(Exception):
                async for event in subscription:
                    if not SOCKETS or websocket is not next(iter(SOCKETS)):
                        continue
                    for each in list(SOCKETS):
                        try:
                            await each.send_json({"type": "chat", "id": event.id, **event.data})
                        except Exception:
                            SOCKETS.discard(each)

        task = asyncio.create_task(forward())
        try:
            while True:
                message = await websocket.receive_json()
                await broker.publish(LOBBY, "chat", {"user": name, "text": message["text"]})
        except WebSocketDisconnect:
            pass
        finally:
            SOCKETS.discard(websocket)
            task.cancel()


async def no_slow_close(websocket: WebSocket, broker: Broker, users: dict[str, str]) -> None:
    name = await sign_in(websocket, users)
    if name is None:
        return
    async with broker.subscribe(LOBBY) as subscription:

        async def pump() -> None:
            with contextlib.suppress(SubscriberDropped):
                async for event in subscription:
                    await websocket.send_json({"type": "chat", "id": event.id, **event.data})

        sending = asyncio.create_task(pump())
        try:
            while True:
                message = await websocket.receive_json()
                await broker.publish(LOBBY, "chat", {"user": name, "text": message["text"]})
        except WebSocketDisconnect:
            pass
        finally:
            sending.cancel()


LEAKED: list[Any] = []


async def leaks(websocket: WebSocket, broker: Broker, users: dict[str, str]) -> None:
    """Enters the subscription by hand and never leaves it."""
    name = await sign_in(websocket, users)
    if name is None:
        return
    subscribing = broker.subscribe(LOBBY)
    LEAKED.append(subscribing)
    subscription = await subscribing.__aenter__()

    async def pump() -> None:
        try:
            async for event in subscription:
                await websocket.send_json({"type": "chat", "id": event.id, **event.data})
        except SubscriberDropped:
            await websocket.close(3008, "too slow")

    LEAKED.append(asyncio.create_task(pump()))
    with contextlib.suppress(WebSocketDisconnect):
        while True:
            message = await websocket.receive_json()
            await broker.publish(LOBBY, "chat", {"user": name, "text": message["text"]})


def run_check(room: Any, capsys: pytest.CaptureFixture[str]) -> dict[str, str]:
    results = check_room(room)
    printed = capsys.readouterr().out
    assert [result.name for result in results] == CHECKS
    assert f"{sum(r.passed for r in results)} of {len(CHECKS)} checks pass" in printed
    assert running_servers() == [], "the check left a server running"
    return {r.name: f"{r.problem}. Hint: {r.hint}" for r in results if not r.passed}


def test_a_correct_handler_passes_every_check(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_check(reference, capsys) == {}


def test_the_unwritten_exercise_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    problems = run_check(unwritten, capsys)
    assert list(problems) == CHECKS
    assert problems[CHECKS[0]].startswith("not written yet (room() raises NotImplementedError)")


@pytest.mark.parametrize(
    ("wrong", "failing", "problem"),
    [
        (anyone, CHECKS[:1], "a client with an unknown token was never closed"),
        (trusts_the_client, CHECKS[1:2], "ada received {'type': 'chat', 'id': "),
        (outline_loop, CHECKS[2:4], "with cy not reading, bo received"),
        (no_slow_close, CHECKS[3:4], "the client that fell behind was never closed"),
        (leaks, CHECKS[2:], "ada left, but 2 subscriptions are still open"),
    ],
)
def test_each_wrong_handler_fails_where_it_should(
    capsys: pytest.CaptureFixture[str], wrong: Any, failing: list[str], problem: str
) -> None:
    problems = run_check(wrong, capsys)
    assert list(problems) == failing
    assert problems[failing[0]].startswith(problem), problems[failing[0]]
