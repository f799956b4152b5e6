"""Lesson 02's exercise check: it passes correct frame writers and names what wrong ones miss.

Each wrong ``sse_frame`` below gets one thing wrong; the check must fail exactly the checks
that thing breaks, with a message that shows it, and pass the rest.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from streamverse.course.exercises.sse_frames import check_sse_frame
from streamverse.sse import encoder as sse

CHECKS = [
    "a one-line event reads back",
    "multi-line data: one data: line per line",
    "data that starts with a space keeps it",
    "CRLF and CR line breaks in data",
    "no event type: dispatched as message",
    "id 0 is an id too",
    "ends with a blank line: two frames, two events",
    "empty data is still an event",
    "refuses an event type with a line break",
]
LINE_BREAK = re.compile(r"\r\n|\r|\n")


def reference(data: str, event: str | None = None, id: int | None = None) -> str:
    """A correct frame writer, written as the solution notebook's."""
    lines = []
    if event is not None:
        if "\n" in event or "\r" in event:
            raise ValueError(f"an SSE event type must be a single line, got {event!r}")
        lines.append(f"event: {event}")
    if id is not None:
        lines.append(f"id: {id}")
    lines.extend(f"data: {line}" for line in LINE_BREAK.split(data))
    return "\n".join(lines) + "\n\n"


def platform(data: str, event: str | None = None, id: int | None = None) -> str:
    """The platform's encoder, adapted to the exercise's signature."""
    return sse.encode(data, event=event, id=id).decode()


def unwritten(data: str, event: str | None = None, id: int | None = None) -> str:
    raise NotImplementedError


def header(event: str | None, id: int | None) -> str:
    """The event: and id: lines, right (but without the check on event)."""
    text = "" if event is None else f"event: {event}\n"
    return text if id is None else f"{text}id: {id}\n"


def one_data_line(data: str, event: str | None = None, id: int | None = None) -> str:
    """The classic mistake: the whole payload in one data: line."""
    return header(event, id) + f"data: {data}\n\n"


def no_blank_line(data: str, event: str | None = None, id: int | None = None) -> str:
    return reference(data, event, id).removesuffix("\n")


def splits_on_newline_only(data: str, event: str | None = None, id: int | None = None) -> str:
    return header(event, id) + "".join(f"data: {line}\n" for line in data.split("\n")) + "\n"


def uses_splitlines(data: str, event: str | None = None, id: int | None = None) -> str:
    return header(event, id) + "".join(f"data: {line}\n" for line in data.splitlines()) + "\n"


def writes_none(data: str, event: str | None = None, id: int | None = None) -> str:
    """Always writes event: and id:, so a plain message gets type 'None'."""
    return f"event: {event}\nid: {id}\n" + reference(data)


def skips_id_zero(data: str, event: str | None = None, id: int | None = None) -> str:
    return reference(data, event, id or None)


def no_refusal(data: str, event: str | None = None, id: int | None = None) -> str:
    return header(event, id) + "".join(f"data: {line}\n" for line in LINE_BREAK.split(data)) + "\n"


def no_space_after_colon(data: str, event: str | None = None, id: int | None = None) -> str:
    """data: with no space: a client removes one leading space from the payload instead."""
    lines = "".join(f"data:{line}\n" for line in LINE_BREAK.split(data))
    return header(event, id) + lines + "\n" if event is None or "\n" not in event else ""


def returns_bytes(data: str, event: str | None = None, id: int | None = None) -> bytes:
    return sse.encode(data, event=event, id=id)


def run_check(func: Callable[..., object], capsys: pytest.CaptureFixture[str]) -> dict[str, str]:
    """Run the check; returns {check name: "PASS", or "<problem>. Hint: <hint>"}."""
    results = check_sse_frame(func)
    printed = capsys.readouterr().out.splitlines()
    assert [result.name for result in results] == CHECKS
    passed = sum(result.passed for result in results)
    assert f"{passed} of {len(CHECKS)} checks pass" in printed
    return {
        result.name: "PASS" if result.passed else f"{result.problem}. Hint: {result.hint}"
        for result in results
    }


def failing(results: dict[str, str]) -> dict[str, str]:
    return {name: result for name, result in results.items() if result != "PASS"}


@pytest.mark.parametrize("func", [reference, platform], ids=["reference", "sse.encode"])
def test_a_correct_frame_writer_passes_every_check(
    func: Callable[..., str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert failing(run_check(func, capsys)) == {}


def test_the_unwritten_exercise_fails_every_check_with_a_hint(
    capsys: pytest.CaptureFixture[str],
) -> None:
    for result in run_check(unwritten, capsys).values():
        assert result.startswith("not written yet (it raises NotImplementedError). Hint: ")


def test_one_data_line_for_multi_line_data_fails(capsys: pytest.CaptureFixture[str]) -> None:
    problems = failing(run_check(one_data_line, capsys))
    assert list(problems) == [
        "multi-line data: one data: line per line",
        "data that starts with a space keeps it",
        "CRLF and CR line breaks in data",
        "refuses an event type with a line break",
    ]
    assert problems["multi-line data: one data: line per line"].startswith(
        "a client reads its data as 'roses are red', expected 'roses are red\\nviolets are "
        "blue', from 'event: poem\\nid: 4\\ndata: roses are red\\nviolets are blue\\n\\n'. "
        "Hint: split data into lines"
    )


def test_a_frame_without_the_blank_line_fails(capsys: pytest.CaptureFixture[str]) -> None:
    problems = failing(run_check(no_blank_line, capsys))
    assert list(problems) == CHECKS[:-1]
    assert problems["a one-line event reads back"].startswith(
        "a client reads no event from 'event: tick\\nid: 1\\ndata: {\"n\": 1}\\n': it has no "
        "blank line at the end, and a client dispatches an event only there. Hint: "
    )
    assert problems["ends with a blank line: two frames, two events"].startswith(
        "a client reads 0 events from two frames, 'event: a\\nid: 1\\ndata: first\\nevent: b"
        "\\nid: 2\\ndata: second\\n', expected 2. Hint: end the frame with an empty line"
    )


def test_splitting_on_newline_only_fails_on_cr(capsys: pytest.CaptureFixture[str]) -> None:
    problems = failing(run_check(splits_on_newline_only, capsys))
    assert list(problems) == [
        "CRLF and CR line breaks in data",
        "refuses an event type with a line break",
    ]
    assert problems["CRLF and CR line breaks in data"].startswith(
        "a client reads its data as 'one\\ntwo', expected 'one\\ntwo\\nthree', from "
    )
    assert "re.split(r'\\r\\n|\\r|\\n', data)" in problems["CRLF and CR line breaks in data"]


def test_splitlines_loses_empty_data(capsys: pytest.CaptureFixture[str]) -> None:
    problems = failing(run_check(uses_splitlines, capsys))
    assert list(problems) == [
        "empty data is still an event",
        "refuses an event type with a line break",
    ]
    assert problems["empty data is still an event"].startswith(
        "a client reads no event from 'event: ping\\n\\n': it has no data: line, and a client "
        "dispatches no event without data. Hint: "
    )


def test_writing_none_fails_the_plain_message(capsys: pytest.CaptureFixture[str]) -> None:
    problems = failing(run_check(writes_none, capsys))
    assert list(problems) == [
        "no event type: dispatched as message",
        "empty data is still an event",  # 'ping' comes out as 'ping', but its id is 'None'
        "refuses an event type with a line break",
    ]
    assert problems["no event type: dispatched as message"].startswith(
        "a client reads its type as 'None', expected 'message', from 'event: None\\nid: None\\n"
    )


def test_dropping_id_zero_fails(capsys: pytest.CaptureFixture[str]) -> None:
    problems = failing(run_check(skips_id_zero, capsys))
    assert list(problems) == ["id 0 is an id too"]
    assert problems["id 0 is an id too"].startswith(
        "a client's last event id is '', expected '0', from 'event: snapshot\\ndata: {}\\n\\n'."
    )


def test_accepting_a_multi_line_event_type_fails(capsys: pytest.CaptureFixture[str]) -> None:
    problems = failing(run_check(no_refusal, capsys))
    assert problems == {
        "refuses an event type with a line break": (
            "it returned 'event: two\\nlines\\ndata: {}\\n\\n' for event='two\\nlines' instead "
            "of raising ValueError; a client reads its type as 'two'. Hint: an event: value "
            "must be one line: raise ValueError if it contains '\\n' or '\\r', or the rest "
            "would reach the client as another field"
        )
    }


def test_data_without_a_space_after_the_colon_fails(capsys: pytest.CaptureFixture[str]) -> None:
    problems = failing(run_check(no_space_after_colon, capsys))
    assert list(problems) == [
        "data that starts with a space keeps it",
        "refuses an event type with a line break",
    ]
    assert problems["data that starts with a space keeps it"].startswith(
        "a client reads its data as ' indented\\nkeep me', expected '  indented\\n keep me'"
    )


def test_returning_bytes_is_reported(capsys: pytest.CaptureFixture[str]) -> None:
    problems = failing(run_check(returns_bytes, capsys))
    assert list(problems) == CHECKS[:-1]
    for problem in problems.values():
        assert problem.startswith("it returned a bytes, expected a str. Hint: ")


def test_the_check_never_raises(capsys: pytest.CaptureFixture[str]) -> None:
    def broken(data: str, event: str | None = None, id: int | None = None) -> str:
        raise KeyError("oops")

    for result in run_check(broken, capsys).values():
        assert result.startswith("it raised KeyError: 'oops'. Hint: ")
