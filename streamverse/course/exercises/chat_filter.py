"""Lesson 04, exercise "moderation tools": a chat filter that plugs into the package's hook.

The learner writes ``SpamFilter(words)``, an object with one method, ``check(draft) ->
Verdict`` (``streamverse.chat.filters``):

* a message with one of ``words`` in it, as a whole word and in any case, is refused
  with the code ``"banned_word"``;
* a message of at least 8 letters that are all capitals is turned down to lower case
  (``rewrite``), not refused;
* the same text (ignoring case and surrounding spaces) from the same user a third time in
  a row is refused with ``"repeated"`` (another user, or another text in between, starts
  the count again);
* a viewer's message with a link (``http://``, ``https://`` or ``www.``) is refused with
  ``"link"``; moderators and the owner may post links.

``check_filter(SpamFilter)`` first calls it on a few drafts, then plugs it into a real
server (``service.add_filter``) and sends messages from real WebSocket clients: what each
sender gets back (an ``ack`` or an ``error`` code) and what another client receives.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from ...app import create_app
from ...chat import service as chat
from ...chat.filters import Draft, MessageFilter, Verdict
from ...chat.schemas import Role, RoomModes
from ...config import Settings
from ...notebook import BackgroundServer
from ...services import services_of
from ..checks import Check, Hints, Result, run_checks
from .chat_client import ChatClient, Message

WORDS = ["spoiler", "scam"]
SETTINGS: dict[str, Any] = {"chat_rate_messages": 1000, "chat_commands_per_second": 1000.0}
Factory = Callable[[list[str]], MessageFilter]


def draft(text: str, user: str = "bo", role: Role = Role.viewer) -> Draft:
    return Draft("stream", user, user, role, text, RoomModes())


class Room:
    """A real server with the learner's filter plugged in; ada owns the stream."""

    def __init__(self, factory: Factory) -> None:
        self.factory = factory
        self.server: BackgroundServer | None = None
        self.clients: dict[str, ChatClient] = {}
        self.data_dir = tempfile.mkdtemp(prefix="streamverse-filter-check-")
        self.problem: str | None = None

    def start(self) -> str | None:
        """None when the room is up, else why not."""
        if self.server is not None or self.problem is not None:
            return self.problem
        try:
            plugged = self.factory(list(WORDS))
        except NotImplementedError:
            self.problem = "not written yet (SpamFilter(words) raises NotImplementedError)"
            return self.problem
        except Exception as error:
            self.problem = f"SpamFilter(words) raised {type(error).__name__}: {error}"
            return self.problem
        settings = Settings(data_dir=Path(self.data_dir), **SETTINGS)
        self.server = BackgroundServer(create_app(settings))
        chat.add_filter(services_of(self.server.app), plugged)
        with httpx.Client(base_url=self.server.url, timeout=10.0) as http:
            users = {
                name: http.post("/users", json={"name": name}).json()
                for name in ["ada", "bo", "cy"]
            }
            owner = {"Authorization": f"Bearer {users['ada']['token']}"}
            stream = http.post(
                "/streams/create", json={"title": "t", "category": "c"}, headers=owner
            )
            stream_id = stream.json()["id"]
        for name, user in users.items():
            self.clients[name] = ChatClient.open(self.server.ws_url, stream_id, token=user["token"])
        self.clients["reader"] = ChatClient.open(self.server.ws_url, stream_id)
        return None

    def send(self, name: str, text: str) -> tuple[str, str]:
        """("ack", the text another client received) or ("error", its code)."""
        reply = self.clients[name].say(text)
        if reply["type"] == "error":
            return "error", str(reply["data"]["code"])
        received = self.clients["reader"].next(lambda m: _is(m, reply["data"]["id"]))
        return "ack", str(received["data"]["text"])

    def close(self) -> None:
        for client in self.clients.values():
            with contextlib.suppress(Exception):
                client.close()
        if self.server is not None:
            self.server.stop()
        shutil.rmtree(self.data_dir, ignore_errors=True)


def _is(message: Message, message_id: int) -> bool:
    return bool(message["type"] == "chat" and message["id"] == message_id)


def expect(room: Room, name: str, text: str, outcome: tuple[str, str]) -> str | None:
    got = room.send(name, text)
    if got == outcome:
        return None
    said = f"{name} sent {text!r}"
    if outcome[0] == "ack" and got[0] == "ack":
        return f"{said}; the others received {got[1]!r}, expected {outcome[1]!r}"
    if outcome[0] == "ack":
        return f"{said}; it was refused ({got[1]}), expected it to go through as {outcome[1]!r}"
    if got[0] == "ack":
        return f"{said}; it went through as {got[1]!r}, expected it refused ({outcome[1]})"
    return f"{said}; it was refused with {got[1]!r}, expected {outcome[1]!r}"


def live(room: Room, steps: list[tuple[str, str, tuple[str, str]]]) -> Callable[[], str | None]:
    def run() -> str | None:
        if (problem := room.start()) is not None:
            return problem
        for name, text, outcome in steps:
            if (problem := expect(room, name, text, outcome)) is not None:
                return problem
        return None

    return run


def offline(factory: Factory) -> Callable[[], str | None]:
    def run() -> str | None:
        plugged = factory(list(WORDS))
        for text in ("hello", "🎉🎉", "  spaced  ", "x" * 500, "Spoiler"):
            verdict: object = plugged.check(draft(text))  # the learner's: anything may come
            if not isinstance(verdict, Verdict):
                return f"check() returned {type(verdict).__name__} for {text!r}, not a Verdict"
        return None

    return run


def ok(text: str) -> tuple[str, str]:
    return "ack", text


def refused(code: str) -> tuple[str, str]:
    return "error", code


def checks(factory: Factory, room: Room) -> list[Check]:
    return [
        Check(
            "check() returns a Verdict",
            offline(factory),
            "return ACCEPT to let a message through, refuse(reason, code) or rewrite(text)",
        ),
        Check(
            "a plain message goes through unchanged",
            live(room, [("bo", "good game everyone", ok("good game everyone"))]),
            "return ACCEPT (from streamverse.chat.filters) when nothing is wrong",
        ),
        Check(
            "a word from the list is refused",
            live(room, [("bo", "that was a Spoiler!", refused("banned_word"))]),
            "compare lower-cased whole words: re.findall(r'\\w+', draft.text.lower()); "
            "return refuse('that word is not allowed here', 'banned_word')",
        ),
        Check(
            "only whole words count",
            live(room, [("bo", "no spoilers, no scams", ok("no spoilers, no scams"))]),
            "'spoilers' is not 'spoiler': match words, not substrings",
        ),
        Check(
            "shouting is turned down",
            live(
                room,
                [("bo", "STOP THE STREAM!", ok("stop the stream!")), ("bo", "GG WP", ok("GG WP"))],
            ),
            "count the letters (c.isalpha()); 8 or more, all upper case: "
            "return rewrite(draft.text.lower())",
        ),
        Check(
            "the third identical message in a row is refused",
            live(
                room,
                [
                    ("cy", "first!", ok("first!")),
                    ("cy", "First! ", ok("First!")),
                    ("cy", "first!", refused("repeated")),
                    ("bo", "first!", ok("first!")),
                    ("cy", "something else", ok("something else")),
                    ("cy", "first!", ok("first!")),
                ],
            ),
            "keep, per draft.user_id, the last text (stripped, lower case) and how many times "
            "in a row it came; refuse the third with refuse(..., 'repeated')",
        ),
        Check(
            "links are refused for viewers",
            live(
                room,
                [
                    ("bo", "visit www.cheap.example", refused("link")),
                    ("bo", "or HTTPS://cheap.example", refused("link")),
                ],
            ),
            "look for 'http://', 'https://' or 'www.' in draft.text.lower(); refuse(..., 'link')",
        ),
        Check(
            "moderators and the owner may post links",
            live(
                room,
                [("ada", "schedule: https://example.org", ok("schedule: https://example.org"))],
            ),
            "skip the link rule when draft.role is not Role.viewer",
        ),
    ]


def check_filter(factory: Factory, hints: Hints = "first") -> list[Result]:
    """Check a ``SpamFilter`` class (called as ``factory(words)``); one line per check.

    Starts (and always stops) its own server; never raises.
    """
    room = Room(factory)
    try:
        return run_checks(
            checks(factory, room), hints, all_hints='check_filter(SpamFilter, hints="all")'
        )
    finally:
        with contextlib.suppress(Exception):
            room.close()
