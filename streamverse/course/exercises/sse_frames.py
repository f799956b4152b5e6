"""Lesson 02, Server-Sent Events: write one SSE frame by hand.

The exercise: write ``sse_frame(data, event=None, id=None) -> str``, one event in the wire
format: an ``event:`` line and an ``id:`` line when they are given, one ``data:`` line per
line of ``data`` (split at ``\\r\\n``, ``\\r`` and ``\\n``, as a client splits), and a blank
line to end the event. An ``event`` with a line break in it cannot be written: it raises
``ValueError``.

Every check reads the frames back with ``sse_spec.SSEParser``, which follows the spec's
parsing algorithm as a browser does, so a frame passes when a browser would read it right.
"""

from __future__ import annotations

from collections.abc import Callable

from ..checks import Check, Hints, Result, run_checks
from ..sse_spec import SSEEvent, SSEParser

SSEFrame = Callable[..., object]
"""What the learner wrote; the check looks at whatever it returns."""


def _read(text: str) -> list[SSEEvent]:
    """The events a client dispatches from ``text``, read to its end."""
    parser = SSEParser()
    events = parser.feed(text)
    if text.endswith("\r"):
        # At the end of the input a CR is a whole line break; the parser waits for a
        # possible LF, and one LF completes the CRLF without adding a line.
        events += parser.feed("\n")
    return events


def _read_one(frame: object) -> tuple[SSEEvent | None, str | None]:
    """The one event a client reads from ``frame``, or what went wrong."""
    if not isinstance(frame, str):
        if frame is None:
            return None, "it returned None (not written yet?), expected a str"
        return None, f"it returned a {type(frame).__name__}, expected a str"
    events = _read(frame)
    if len(events) == 1:
        return events[0], None
    if events:
        return None, f"a client reads {len(events)} events from {frame!r}, expected one"
    if _read(frame + "\n\n"):
        why = "it has no blank line at the end, and a client dispatches an event only there"
    else:
        why = "it has no data: line, and a client dispatches no event without data"
    return None, f"a client reads no event from {frame!r}: {why}"


def _differs(got: SSEEvent, kind: str, data: str, last_id: str) -> str | None:
    """What a client read differently from the expected type, data and last event id."""
    if got.type != kind:
        return f"a client reads its type as {got.type!r}, expected {kind!r}"
    if got.data != data:
        return f"a client reads its data as {got.data!r}, expected {data!r}"
    if got.last_event_id != last_id:
        return f"a client's last event id is {got.last_event_id!r}, expected {last_id!r}"
    return None


def _round_trip(
    func: SSEFrame, data: str, options: dict[str, object], expected: tuple[str, str, str]
) -> str | None:
    """Frame ``data`` with ``options`` (event=, id=) and read it back: is it ``expected``,
    (type, data, last event id)?"""
    frame = func(data, **options)
    event, problem = _read_one(frame)
    if event is None:
        return problem
    problem = _differs(event, *expected)
    return None if problem is None else f"{problem}, from {frame!r}"


def check_sse_frame(func: SSEFrame, hints: Hints = "first") -> list[Result]:
    """Check ``func(data, event=None, id=None) -> str``; prints one line per check."""

    def one_line() -> str | None:
        data = '{"n": 1}'
        return _round_trip(func, data, {"event": "tick", "id": 1}, ("tick", data, "1"))

    def leading_space() -> str | None:
        # A client drops one space after "data:", so "data:" + " x" would lose the space.
        expected = ("quote", "  indented\n keep me", "2")
        return _round_trip(func, "  indented\n keep me", {"event": "quote", "id": 2}, expected)

    def multi_line() -> str | None:
        poem = "roses are red\nviolets are blue"
        return _round_trip(func, poem, {"event": "poem", "id": 4}, ("poem", poem, "4"))

    def other_line_breaks() -> str | None:
        # A client turns every line break into "\n": that is what comes back.
        expected = ("count", "one\ntwo\nthree", "5")
        return _round_trip(func, "one\r\ntwo\rthree", {"event": "count", "id": 5}, expected)

    def plain_message() -> str | None:
        return _round_trip(func, "hello", {}, ("message", "hello", ""))

    def id_zero() -> str | None:
        return _round_trip(func, "{}", {"event": "snapshot", "id": 0}, ("snapshot", "{}", "0"))

    def back_to_back() -> str | None:
        first = func("first", event="a", id=1)
        second = func("second", event="b", id=2)
        for frame in (first, second):
            if not isinstance(frame, str):
                return f"it returned a {type(frame).__name__}, expected a str"
        text = str(first) + str(second)
        events = _read(text)
        if len(events) != 2:
            return f"a client reads {len(events)} events from two frames, {text!r}, expected 2"
        for which, event, expected in zip(
            ("first", "second"), events, [("a", "first", "1"), ("b", "second", "2")], strict=True
        ):
            problem = _differs(event, *expected)
            if problem is not None:
                return f"{problem} for the {which} of two frames, {text!r}"
        return None

    def empty_data() -> str | None:
        return _round_trip(func, "", {"event": "ping"}, ("ping", "", ""))

    def refuses_line_breaks() -> str | None:
        for kind in ("two\nlines", "two\rlines"):
            try:
                frame = func("{}", event=kind)
            except ValueError:
                continue
            events = _read(frame) if isinstance(frame, str) else []
            read = f"; a client reads its type as {events[0].type!r}" if events else ""
            return f"it returned {frame!r} for event={kind!r} instead of raising ValueError{read}"
        return None

    return run_checks(
        [
            Check(
                "a one-line event reads back",
                one_line,
                "an 'event: ...' line, an 'id: ...' line, a 'data: ...' line, then a blank "
                "line; each line ends with '\\n'",
            ),
            Check(
                "multi-line data: one data: line per line",
                multi_line,
                "split data into lines and write 'data: ' before each one: a client joins "
                "them back with '\\n'",
            ),
            Check(
                "data that starts with a space keeps it",
                leading_space,
                "write 'data: ' with one space after the colon, then the line: a client "
                "removes exactly one space there, so 'data:' + line eats a leading space",
            ),
            Check(
                "CRLF and CR line breaks in data",
                other_line_breaks,
                "a client splits lines at '\\r\\n', '\\r' and '\\n'; split data the same way, "
                "re.split(r'\\r\\n|\\r|\\n', data) (data.split('\\n') misses a lone '\\r')",
            ),
            Check(
                "no event type: dispatched as message",
                plain_message,
                "write the event: and id: lines only when they are not None; without an "
                "event: line a client dispatches the event as 'message'",
            ),
            Check(
                "id 0 is an id too",
                id_zero,
                "test 'id is not None', not 'if id:': 0 is false but as valid an id as any other",
            ),
            Check(
                "ends with a blank line: two frames, two events",
                back_to_back,
                "end the frame with an empty line: the last line's '\\n', then one more "
                "'\\n'; a client dispatches the event there",
            ),
            Check(
                "empty data is still an event",
                empty_data,
                "an empty string is one empty line: write 'data: ' for it "
                "(re.split(...) gives [''] for it, but ''.splitlines() gives [])",
            ),
            Check(
                "refuses an event type with a line break",
                refuses_line_breaks,
                "an event: value must be one line: raise ValueError if it contains '\\n' or "
                "'\\r', or the rest would reach the client as another field",
            ),
        ],
        hints,
        all_hints='check_sse_frame(sse_frame, hints="all")',
    )
