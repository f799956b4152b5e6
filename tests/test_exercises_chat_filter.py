"""The "moderation tools" check: it passes a correct filter and fails each wrong one on
the check it should, with that check's hint."""

from __future__ import annotations

import re
from typing import Any

import pytest

from streamverse.chat.filters import ACCEPT, Draft, Verdict, refuse, rewrite
from streamverse.chat.schemas import Role
from streamverse.course.exercises.chat_filter import check_filter
from streamverse.notebook import running_servers

CHECKS = [
    "check() returns a Verdict",
    "a plain message goes through unchanged",
    "a word from the list is refused",
    "only whole words count",
    "shouting is turned down",
    "the third identical message in a row is refused",
    "links are refused for viewers",
    "moderators and the owner may post links",
]


class Reference:
    """A correct filter, written as the solution notebook's."""

    def __init__(self, words: list[str]) -> None:
        self.words = {word.lower() for word in words}
        self.last: dict[str, tuple[str, int]] = {}

    def check(self, draft: Draft) -> Verdict:
        text = draft.text.lower().strip()
        if self.has_word(draft.text):
            return refuse("that word is not allowed here", "banned_word")
        previous, count = self.last.get(draft.user_id, ("", 0))
        count = count + 1 if text == previous else 1
        self.last[draft.user_id] = (text, count)
        if count >= 3:
            return refuse("you said that already", "repeated")
        if draft.role is Role.viewer and any(m in text for m in ("http://", "https://", "www.")):
            return refuse("no links, please", "link")
        letters = [c for c in draft.text if c.isalpha()]
        if len(letters) >= 8 and all(c.isupper() for c in letters):
            return rewrite(draft.text.lower())
        return ACCEPT

    def has_word(self, text: str) -> bool:
        return bool(self.words & set(re.findall(r"\w+", text.lower())))


class Unwritten:
    def __init__(self, words: list[str]) -> None:
        raise NotImplementedError


class Substring(Reference):
    def has_word(self, text: str) -> bool:
        return any(word in text.lower() for word in self.words)


class CaseSensitive(Reference):
    def has_word(self, text: str) -> bool:
        return bool(self.words & set(re.findall(r"\w+", text)))


def _as(draft: Draft, **changes: Any) -> Draft:
    from dataclasses import replace

    return replace(draft, **changes)


class RefusesShouting(Reference):
    def check(self, draft: Draft) -> Verdict:
        verdict = super().check(draft)
        return refuse("no shouting", "shouting") if verdict.text is not None else verdict


class RepeatsAcrossUsers(Reference):
    def check(self, draft: Draft) -> Verdict:
        return super().check(_as(draft, user_id="everyone"))


class NoExemption(Reference):
    def check(self, draft: Draft) -> Verdict:
        return super().check(_as(draft, role=Role.viewer))


class ReturnsNone(Reference):
    def check(self, draft: Draft) -> Verdict:
        verdict = super().check(draft)
        return verdict if verdict.refused else None  # type: ignore[return-value]


def run_check(factory: Any, capsys: pytest.CaptureFixture[str]) -> dict[str, str]:
    results = check_filter(factory)
    printed = capsys.readouterr().out
    assert [result.name for result in results] == CHECKS
    assert f"{sum(r.passed for r in results)} of {len(CHECKS)} checks pass" in printed
    assert running_servers() == [], "the check left a server running"
    return {r.name: f"{r.problem}. Hint: {r.hint}" for r in results if not r.passed}


def test_a_correct_filter_passes_every_check(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_check(Reference, capsys) == {}


def test_the_unwritten_exercise_fails_every_check(capsys: pytest.CaptureFixture[str]) -> None:
    problems = run_check(Unwritten, capsys)
    assert list(problems) == CHECKS
    assert problems[CHECKS[0]].startswith("not written yet")
    assert problems[CHECKS[1]].startswith("not written yet (SpamFilter(words) raises")


@pytest.mark.parametrize(
    ("wrong", "failing", "problem"),
    [
        (Substring, ["only whole words count"], "bo sent 'no spoilers, no scams'; it was refused"),
        (CaseSensitive, ["a word from the list is refused"], "it went through as 'that was"),
        (RefusesShouting, ["shouting is turned down"], "it was refused (shouting)"),
        (
            RepeatsAcrossUsers,
            ["the third identical message in a row is refused"],
            "bo sent 'first!'; it was refused (repeated)",
        ),
        (NoExemption, ["moderators and the owner may post links"], "ada sent"),
    ],
)
def test_each_wrong_filter_fails_the_check_it_should(
    capsys: pytest.CaptureFixture[str], wrong: Any, failing: list[str], problem: str
) -> None:
    problems = run_check(wrong, capsys)
    assert list(problems) == failing
    assert problem in problems[failing[0]]


def test_a_filter_that_returns_none_is_caught_offline(capsys: pytest.CaptureFixture[str]) -> None:
    problems = run_check(ReturnsNone, capsys)
    assert problems[CHECKS[0]].startswith("check() returned NoneType for 'hello'")
    assert "a plain message goes through unchanged" in problems  # the server refuses it
