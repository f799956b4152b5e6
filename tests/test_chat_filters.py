"""The filter hook and the built-in filters, on drafts (no server needed), and the
protocol's parser on its own."""

from __future__ import annotations

import pytest

from streamverse.chat import protocol
from streamverse.chat.filters import (
    ACCEPT,
    BannedWords,
    Draft,
    EmoteOnly,
    NoLinks,
    Verdict,
    refuse,
    rewrite,
    run_filters,
)
from streamverse.chat.schemas import ErrorData, Role, RoomModes


def draft(text: str, role: Role = Role.viewer, words: tuple[str, ...] = (), **modes: object):
    return Draft("s", "u", "bo", role, text, RoomModes.model_validate(modes), words)


@pytest.mark.parametrize(
    ("text", "allowed"),
    [
        (":wave:", True),
        ("🎉 👍🏽 ❤️", True),
        ("👨‍👩‍👧 :PogChamp: 🇫🇷", True),
        ("1️⃣", True),
        ("hello :wave:", False),
        (": not an emote :", False),
    ],
)
def test_emote_only(text: str, allowed: bool) -> None:
    verdict = EmoteOnly().check(draft(text, emote_only=True))
    assert (verdict is ACCEPT) is allowed
    assert EmoteOnly().check(draft(text)) is ACCEPT  # the mode is off
    assert EmoteOnly().check(draft(text, Role.moderator, emote_only=True)) is ACCEPT


@pytest.mark.parametrize(
    ("text", "link"),
    [
        ("http://a.b/c", True),
        ("HTTPS://EXAMPLE.ORG", True),
        ("www.example.org", True),
        ("scam.com", True),
        ("my.twitch.tv page", True),
        ("end of sentence.next", False),
        ("version 1.2.3", False),
        ("e.g. this", False),
    ],
)
def test_links_off(text: str, link: bool) -> None:
    verdict = NoLinks().check(draft(text, links_allowed=False))
    assert (verdict.refused is not None) is link
    assert NoLinks().check(draft(text)) is ACCEPT


def test_banned_words_are_masked_as_whole_words_in_any_case() -> None:
    verdict = BannedWords().check(draft("Darn! darned DARN c++", words=("darn", "c++")))
    assert verdict.text == "****! darned **** ***"
    assert BannedWords().check(draft("fine", words=("darn",))) is ACCEPT


def test_filters_run_in_order_on_the_rewritten_text_and_the_first_refusal_wins() -> None:
    seen: list[str] = []

    class Upper:
        def check(self, d: Draft) -> Verdict:
            seen.append(d.text)
            return rewrite(d.text.upper())

    class NoBob:
        def check(self, d: Draft) -> Verdict:
            seen.append(d.text)
            return refuse("no bob") if "BOB" in d.text else ACCEPT

    result = run_filters([Upper(), NoBob()], draft("hi bob"))
    assert result == refuse("no bob") and seen == ["hi bob", "HI BOB"]
    passed = run_filters([Upper(), NoBob()], draft("hi al"))
    assert isinstance(passed, Draft) and passed.text == "HI AL"


@pytest.mark.parametrize(
    "bad", [lambda d: 1 / 0, lambda d: None, lambda d: "text", lambda d: rewrite("  ")]
)
def test_a_broken_filter_refuses_the_message(bad: object) -> None:
    class Broken:
        def check(self, d: Draft) -> Verdict:
            return bad(d)  # type: ignore[operator,no-any-return]

    result = run_filters([Broken()], draft("hello"))
    assert isinstance(result, Verdict) and result.code == "filter_error"


def test_parse_returns_typed_commands() -> None:
    command = protocol.parse('{"type": "timeout", "user_id": "u1", "seconds": 30, "ref": "x"}')
    assert command == protocol.Timeout(type="timeout", user_id="u1", seconds=30, ref="x")
    error = protocol.parse('{"type": "timeout", "user_id": "u1", "seconds": 0, "ref": "x"}')
    assert isinstance(error, ErrorData) and error.code == "invalid_message"
    assert error.ref == "x" and error.detail.startswith("seconds: Input should be greater")
    assert set(protocol.COMMAND_TYPES) == {
        model.model_fields["type"].annotation.__args__[0]  # type: ignore[union-attr]
        for model in protocol.Command.__subclasses__()
    }


def test_the_protocol_page_names_every_message_and_error_code() -> None:
    import re
    import typing
    from pathlib import Path

    from streamverse.chat.schemas import ServerMessage

    page = (Path(__file__).parent.parent / "docs" / "chat-protocol.md").read_text()
    documented = set(re.findall(r"^\| `(\w+)` \|", page, re.MULTILINE))
    server_types = {
        model.model_fields["type"].default for model in typing.get_args(ServerMessage)[0].__args__
    }
    assert set(protocol.COMMAND_TYPES) <= documented
    assert server_types <= documented
    codes = {"invalid_json", "invalid_message", "unknown_type", "binary", "flood", "banned"}
    codes |= {"not_authenticated", "rate_limited", "slow_mode", "timed_out", "too_long"}
    assert codes <= set(re.findall(r"`(\w+)`", page))
