"""Lesson 01, streaming responses: read an NDJSON live feed into comment texts.

The exercise: write ``comment_texts(lines)`` that takes the lines of a live comments feed
(``GET /streams/{id}/comments/live``, one JSON object per line) and returns the texts of
the comments, in order, stopping at the ``{"type": "end"}`` line.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator

from ..checks import Check, Hints, Result, run_checks

CommentTexts = Callable[[Iterable[str]], object]
"""What the learner wrote; the check looks at whatever it returns."""


COMPACT = (",", ":")
"""The real server writes compact JSON, with no spaces: a check must not depend on spacing."""


def _comment(id: int, text: str) -> str:
    data = {"id": id, "stream_id": "s1", "user_id": "u1", "user_name": "ada", "text": text}
    return json.dumps({"type": "comment", "data": data}, separators=COMPACT)


_END = json.dumps({"type": "end", "data": {"reason": "stream ended"}}, separators=COMPACT)
_KEEPALIVE = '{"type":"keepalive"}'


class _OpenFeed:
    """A feed whose connection stays open after the end line, as a careless server's might.

    Iterating past the end line is recorded, and then one more comment arrives.
    """

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines
        self.read_past_end = False

    def __iter__(self) -> Iterator[str]:
        yield from self.lines
        self.read_past_end = True
        yield _comment(99, "after the end")


def _expect(func: CommentTexts, lines: list[str], expected: list[str]) -> str | None:
    got = func(iter(lines))
    if got is None:
        return "returned None (not written yet?), expected a list of str"
    if not isinstance(got, list):
        return f"returned a {type(got).__name__}, expected a list of str"
    if got != expected:
        return f"returned {got!r}, expected {expected!r}"
    return None


def check_comment_texts(func: CommentTexts, hints: Hints = "first") -> list[Result]:
    """Check ``func(lines) -> list[str]``; prints one line per check."""

    def in_order() -> str | None:
        lines = [_comment(1, "hello"), _comment(2, "nice play"), _END]
        return _expect(func, lines, ["hello", "nice play"])

    def text_is_only_text() -> str | None:
        spaced = json.dumps({"type": "comment", "data": {"id": 3, "text": "spaced out"}})
        lines = [_comment(1, "end"), _comment(2, '{"type":"end"}'), spaced, _END]
        return _expect(func, lines, ["end", '{"type":"end"}', "spaced out"])

    def skips_others() -> str | None:
        lines = [
            _KEEPALIVE,
            _comment(1, "first"),
            json.dumps({"type": "reaction", "data": {"emoji": "+1"}}),
            _KEEPALIVE,
            _comment(2, "second"),
            _END,
        ]
        return _expect(func, lines, ["first", "second"])

    def stops_at_end() -> str | None:
        feed = _OpenFeed([_comment(1, "only one"), _END])
        got = func(iter(feed))
        if not isinstance(got, list):
            return f"returned a {type(got).__name__}, expected a list of str"
        if feed.read_past_end:
            return "it kept reading after the end line (on a live connection it would hang)"
        if got != ["only one"]:
            return f"returned {got!r}, expected ['only one']"
        return None

    def empty_feed() -> str | None:
        return _expect(func, [_KEEPALIVE, _END], [])

    return run_checks(
        [
            Check(
                "comment texts, in order",
                in_order,
                "json.loads(line) each line; keep data['text'] when type is 'comment'",
            ),
            Check(
                "a comment whose text says 'end' is still a comment",
                text_is_only_text,
                "decide by the parsed object, message['type'] == 'end', not by searching the "
                "line's text: a comment may say anything, and JSON may be spaced or not",
            ),
            Check(
                "keep-alive and unknown lines skipped",
                skips_others,
                "only lines whose 'type' is 'comment' carry a text; ignore the rest",
            ),
            Check(
                "stops at the end line",
                stops_at_end,
                "return as soon as a line's type is 'end': the connection may stay open",
            ),
            Check(
                "a feed with no comments gives []",
                empty_feed,
                "start from an empty list and return it at the end line",
            ),
        ],
        hints,
        all_hints='check_comment_texts(comment_texts, hints="all")',
    )
