"""Moderation with real clients: moderators, delete, timeout, ban and unban, slow mode,
emote-only, links off, banned words, the audit log, and the filter hook."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from streamverse.chat import service as chat_service
from streamverse.chat.filters import ACCEPT, Draft, Verdict, refuse
from streamverse.chat.models import RestrictionRow
from streamverse.course.exercises.chat_client import ChatClient, texts
from streamverse.db.base import utcnow
from streamverse.notebook import BackgroundServer
from streamverse.services import services_of


class Room:
    """A live stream owned by ada, with bo and cy signed in to its chat, and a watcher."""

    def __init__(
        self, server: BackgroundServer, http: httpx.Client, make_user: Any, make_stream: Any
    ):
        self.server, self.http = server, http
        self.users = {name: make_user(http, name)[0] for name in ("ada", "bo", "cy")}
        headers = {"Authorization": f"Bearer {self.users['ada']['token']}"}
        self.stream = make_stream(http, headers, status="live")["id"]
        self.chats = {name: self.open(name) for name in self.users}
        self.watcher = ChatClient.open(server.ws_url, self.stream)

    def open(self, name: str) -> ChatClient:
        return ChatClient.open(self.server.ws_url, self.stream, token=self.users[name]["token"])

    def id(self, name: str) -> str:
        return str(self.users[name]["id"])

    def do(self, name: str, command: dict[str, Any]) -> dict[str, Any]:
        return self.chats[name].command(command)

    def log(self, name: str | None = "ada", **params: Any) -> httpx.Response:
        headers = {} if name is None else {"Authorization": f"Bearer {self.users[name]['token']}"}
        return self.http.get(
            f"/streams/{self.stream}/moderation/log", headers=headers, params=params
        )

    def comment(self, name: str, text: str) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.users[name]['token']}"}
        return self.http.post(
            f"/streams/{self.stream}/comments", json={"text": text}, headers=headers
        )

    def close(self) -> None:
        for client in (*self.chats.values(), self.watcher):
            client.close()


@pytest.fixture
def room(server: BackgroundServer, client: httpx.Client, make_user: Any, make_stream: Any):
    room = Room(server, client, make_user, make_stream)
    yield room
    room.close()


def when(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def moderation(chat: ChatClient) -> dict[str, Any]:
    return chat.next(lambda m: m["type"] == "moderation")["data"]


def test_the_owner_appoints_moderators_and_only_moderators_moderate(room: Room) -> None:
    refused = room.do("bo", {"type": "delete", "message_id": 1})
    assert refused["data"]["code"] == "forbidden"
    assert (
        room.do("bo", {"type": "moderator", "user_id": room.id("cy"), "moderator": True})["data"][
            "detail"
        ]
        == "only the stream's moderators and owner may moderate its chat"
    )

    assert (
        room.do("ada", {"type": "moderator", "user_id": room.id("bo"), "moderator": True})["type"]
        == "ack"
    )
    event = moderation(room.watcher)
    assert (event["action"], event["target_user_id"]) == ("moderator_added", room.id("bo"))
    assert event["target_name"] == "bo"  # from their account: bo has not said a word yet
    appointed = room.do("bo", {"type": "moderator", "user_id": room.id("cy"), "moderator": True})
    assert appointed["data"]["detail"] == "only the stream's owner appoints moderators"
    with room.open("bo") as again:
        assert again.user is not None and again.user["data"]["role"] == "moderator"


def test_a_deleted_message_disappears_for_everyone(room: Room) -> None:
    spam = room.chats["cy"].say("spam spam")["data"]["id"]
    assert room.do("ada", {"type": "delete", "message_id": spam})["type"] == "ack"
    for chat in (room.watcher, room.chats["bo"], room.chats["cy"]):
        event = moderation(chat)
        assert event["action"] == "delete" and event["message_id"] == spam
    again = room.do("ada", {"type": "delete", "message_id": spam})
    assert again["data"]["code"] == "not_found"
    with ChatClient.open(room.server.ws_url, room.stream) as late:
        assert "cy: spam spam" not in texts(late.recv()["data"]["messages"])


def test_a_timed_out_user_reads_but_cannot_post_until_unbanned(room: Room) -> None:
    cy = room.id("cy")
    ack = room.do("ada", {"type": "timeout", "user_id": cy, "seconds": 600, "reason": "calm down"})
    assert ack["type"] == "ack"
    event = moderation(room.chats["cy"])
    assert (event["action"], event["seconds"], event["reason"]) == ("timeout", 600, "calm down")
    refused = room.chats["cy"].say("but why")
    assert refused["data"]["code"] == "timed_out"
    assert 590 < refused["data"]["retry_after"] <= 600
    room.chats["bo"].say("still here")
    assert "bo: still here" in texts(room.chats["cy"].chats(1))
    comment = room.comment("cy", "then here")  # the comments next to the chat: the same
    assert comment.status_code == 403
    left = re.fullmatch(
        r"you are timed out of this stream's chat and comments for (\d+) more s",
        comment.json()["detail"],
    )
    assert left and 590 < int(left[1]) <= 600

    assert room.do("ada", {"type": "unban", "user_id": cy})["type"] == "ack"
    assert room.chats["cy"].say("thanks")["type"] == "ack"
    assert room.comment("cy", "thanks").status_code == 201


def test_an_expired_timeout_no_longer_applies(room: Room) -> None:
    async def expire() -> None:
        async with services_of(room.server.app).store.session() as session:
            past = utcnow() - timedelta(seconds=1)
            session.add(RestrictionRow(stream_id=room.stream, user_id=room.id("cy"), until=past))
            await session.commit()

    room.server.call(expire())
    assert room.chats["cy"].say("back")["type"] == "ack"


def test_a_banned_user_is_disconnected_cannot_rejoin_nor_comment(room: Room) -> None:
    cy = room.id("cy")
    assert room.do("ada", {"type": "ban", "user_id": cy, "reason": "spam"})["type"] == "ack"
    event = moderation(room.watcher)
    assert (event["action"], event["target_user_id"], event["reason"]) == ("ban", cy, "spam")
    closed = room.chats["cy"].closed()
    assert (closed.code, closed.reason) == (1008, "you are banned from this chat")

    rejoin = ChatClient.open(room.server.ws_url, room.stream)
    rejoin.send({"type": "auth", "token": room.users["cy"]["token"]})
    assert rejoin.closed().code == 1008
    headers = {"Authorization": f"Bearer {room.users['cy']['token']}"}
    comment = room.http.post(
        f"/streams/{room.stream}/comments", json={"text": "sneaky"}, headers=headers
    )
    assert comment.status_code == 403
    assert comment.json() == {"detail": "you are banned from this stream's chat and comments"}

    assert room.do("ada", {"type": "unban", "user_id": cy})["type"] == "ack"
    with room.open("cy") as back:
        assert back.say("sorry")["type"] == "ack"


def test_nobody_moderates_the_owner_and_only_the_owner_moderates_a_moderator(room: Room) -> None:
    room.do("ada", {"type": "moderator", "user_id": room.id("bo"), "moderator": True})
    room.do("ada", {"type": "moderator", "user_id": room.id("cy"), "moderator": True})
    assert room.do("bo", {"type": "ban", "user_id": room.id("ada")})["data"]["detail"] == (
        "nobody can moderate the stream's owner"
    )
    assert room.do("bo", {"type": "ban", "user_id": room.id("cy")})["data"]["detail"] == (
        "only the owner can act on a moderator"
    )
    assert (
        room.do("bo", {"type": "timeout", "user_id": room.id("bo"), "seconds": 5})["data"]["code"]
        == "bad_request"
    )
    unknown = room.do("ada", {"type": "ban", "user_id": "nobody"})
    assert unknown["data"]["code"] == "not_found"


def test_authorization_is_checked_on_every_message(room: Room) -> None:
    """A moderator removed while connected loses their powers at once, same connection."""
    room.do("ada", {"type": "moderator", "user_id": room.id("bo"), "moderator": True})
    first = room.chats["cy"].say("one")["data"]["id"]
    second = room.chats["cy"].say("two")["data"]["id"]
    assert room.do("bo", {"type": "delete", "message_id": first})["type"] == "ack"
    room.do("ada", {"type": "moderator", "user_id": room.id("bo"), "moderator": False})
    assert room.do("bo", {"type": "delete", "message_id": second})["data"]["code"] == "forbidden"


def test_slow_mode_holds_viewers_not_moderators(room: Room) -> None:
    assert room.do("ada", {"type": "modes", "slow_seconds": 30})["type"] == "ack"
    assert moderation(room.watcher)["modes"]["slow_seconds"] == 30
    assert room.chats["bo"].say("first")["type"] == "ack"
    refused = room.chats["bo"].say("second")
    assert refused["data"]["code"] == "slow_mode"
    assert 29 < refused["data"]["retry_after"] <= 30
    assert room.chats["ada"].say("mods are exempt")["type"] == "ack"
    assert room.chats["ada"].say("twice")["type"] == "ack"
    with ChatClient.open(room.server.ws_url, room.stream) as late:
        assert late.welcome is not None and late.welcome["data"]["modes"]["slow_seconds"] == 30


def test_a_modes_command_that_changes_nothing_is_refused(room: Room) -> None:
    before = len(room.log().json())
    refused = room.do("ada", {"type": "modes"})
    assert refused["data"]["code"] == "bad_request"
    assert refused["data"]["detail"].startswith("name a mode to change")
    assert len(room.log().json()) == before  # nothing broadcast, nothing logged


def test_emote_only_and_links_off(room: Room) -> None:
    room.do("ada", {"type": "modes", "emote_only": True})
    assert room.chats["bo"].say("words")["data"]["code"] == "emote_only"
    assert room.chats["bo"].say(":wave: 🎉 👍🏽")["type"] == "ack"
    room.do("ada", {"type": "modes", "emote_only": False, "links_allowed": False})
    for text in ("see https://evil.example/x", "go to www.spam.net", "free at scam.com"):
        assert room.chats["bo"].say(text)["data"]["code"] == "links_off"
    assert room.chats["bo"].say("no links here.")["type"] == "ack"
    assert room.chats["ada"].say("owner may: https://example.org")["type"] == "ack"


def test_banned_words_are_masked_for_everyone(room: Room) -> None:
    ack = room.do("ada", {"type": "banned_words", "words": ["Darn", "heck"]})
    assert ack["type"] == "ack"
    event = moderation(room.watcher)
    assert event["word_count"] == 2 and "words" not in event  # the list stays private
    room.chats["bo"].say("darn it, what the HECK, heckle")
    [message] = room.watcher.chats(1)
    assert message["data"]["text"] == "**** it, what the ****, heckle"
    with room.open("ada") as owner:
        assert owner.user is not None and owner.user["data"]["banned_words"] == ["darn", "heck"]
    with room.open("bo") as viewer:
        assert viewer.user is not None and viewer.user["data"]["banned_words"] is None


def test_the_moderation_log_is_for_moderators_and_the_owner(room: Room) -> None:
    room.do("ada", {"type": "moderator", "user_id": room.id("bo"), "moderator": True})
    room.do("bo", {"type": "timeout", "user_id": room.id("cy"), "seconds": 60, "reason": "r"})
    room.do("bo", {"type": "banned_words", "words": ["darn"]})

    response = room.log("bo")
    assert response.status_code == 200
    entries = response.json()
    assert [e["action"] for e in entries] == ["banned_words", "timeout", "moderator_added"]
    assert entries[0]["words"] == ["darn"] and entries[0]["actor_name"] == "bo"
    assert (entries[1]["target_user_id"], entries[1]["seconds"]) == (room.id("cy"), 60)
    broadcast = room.watcher.next(
        lambda m: m["type"] == "moderation" and m["data"]["action"] == "timeout"
    )
    assert when(entries[1]["until"]) == when(broadcast["data"]["until"])  # kept in the log
    assert all(isinstance(e["event_id"], int) for e in entries)
    older = room.log("ada", before=entries[0]["id"], limit=1).json()
    assert [e["action"] for e in older] == ["timeout"]

    assert room.log("cy").status_code == 403
    assert room.log(None).status_code == 401
    missing = room.http.get(
        "/streams/nope/moderation/log",
        headers={"Authorization": f"Bearer {room.users['ada']['token']}"},
    )
    assert missing.status_code == 404


class NoShouting:
    """A filter plugged into the hook."""

    def check(self, draft: Draft) -> Verdict:
        if draft.text.isupper():
            return refuse("please don't shout", "shouting")
        return ACCEPT


class Broken:
    def check(self, draft: Draft) -> Verdict:
        raise RuntimeError("bug")


def test_a_filter_plugged_into_the_hook_runs_on_every_message(room: Room) -> None:
    services = services_of(room.server.app)
    for plugged, text, code in (
        (NoShouting(), "HELLO", "shouting"),
        (Broken(), "hi", "filter_error"),
    ):
        chat_service.add_filter(services, plugged)
        try:
            refused = room.chats["bo"].say(text)
            assert refused["data"]["code"] == code
        finally:
            chat_service.remove_filter(services, plugged)
    assert room.chats["bo"].say("HELLO")["type"] == "ack"
