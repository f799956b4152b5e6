"""The line splitter and the counter, without a server: every way of cutting the same bytes
into chunks gives the same lines (hypothesis), and the counts follow the documented rules."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streamverse.logs.counting import LogCounter, TopMessages, message_of
from streamverse.logs.lines import LineSplitter


def reference(data: bytes, limit: int) -> tuple[list[bytes], int]:
    """What the lines are, from the whole data at once."""
    lines = data.split(b"\n")
    if lines[-1] == b"":
        lines.pop()  # a final newline ends the last line, it does not start another
    out, cut = [], 0
    for line in lines:
        line = line.removesuffix(b"\r")
        if len(line) > limit:
            cut += 1
            line = line[:limit]
        out.append(line)
    return out, cut


def split(data: bytes, cuts: list[int], limit: int) -> tuple[list[bytes], int]:
    splitter = LineSplitter(limit)
    lines, start = [], 0
    for end in [*sorted(cuts), len(data)]:
        lines += splitter.feed(data[start:end])
        start = end
    return lines + splitter.finish(), splitter.truncated


# Few distinct bytes, so newlines, CRs and long lines are all common.
logs = st.binary(max_size=300) | st.lists(
    st.sampled_from([b"a", b"bc", b"\n", b"\r", b"\r\n", b"\xe2\x82\xac", b"\xff", b"x" * 20])
).map(b"".join)


@given(data=logs, cuts=st.lists(st.integers(0, 300), max_size=12), limit=st.integers(1, 40))
def test_any_chunking_gives_the_lines_of_the_whole(data: bytes, cuts: list[int], limit: int):
    cuts = [min(cut, len(data)) for cut in cuts]
    assert split(data, cuts, limit) == reference(data, limit)


@given(data=logs, limit=st.integers(1, 40))
def test_one_byte_at_a_time_gives_the_lines_of_the_whole(data: bytes, limit: int) -> None:
    assert split(data, list(range(len(data))), limit) == reference(data, limit)


@given(data=logs)
def test_the_tail_kept_between_chunks_never_exceeds_the_limit(data: bytes) -> None:
    splitter = LineSplitter(8)
    for index in range(len(data)):
        splitter.feed(data[index : index + 1])
        assert len(splitter._tail) <= 9  # the limit, plus room for a \r


@pytest.mark.parametrize(
    ("chunks", "lines"),
    [
        ([b"one\ntw", b"o\nthree\n"], [b"one", b"two", b"three"]),
        ([b"crlf\r", b"\nnext\r\n"], [b"crlf", b"next"]),  # \r\n cut between chunks
        ([b"no final newline"], [b"no final newline"]),
        ([b"a\n", b"", b"\n", b"b"], [b"a", b"", b"b"]),  # empty chunks, empty lines
        ([b"caf\xc3", b"\xa9\n"], ["café".encode()]),  # a character cut in two
        ([b"lone\rcr\n"], [b"lone\rcr"]),  # a lone CR is not a line break
        ([b""], []),
    ],
)
def test_the_cases_the_outline_gets_wrong(chunks: list[bytes], lines: list[bytes]) -> None:
    splitter = LineSplitter()
    got = [line for chunk in chunks for line in splitter.feed(chunk)] + splitter.finish()
    assert got == lines


def test_a_file_without_newlines_is_one_cut_line_in_bounded_memory() -> None:
    splitter = LineSplitter(max_line_bytes=100)
    for _ in range(1000):
        assert splitter.feed(b"y" * 1000) == []
    assert len(splitter._tail) <= 101
    assert splitter.finish() == [b"y" * 100]
    assert splitter.truncated == 1


def test_levels_are_counted_by_the_documented_rules() -> None:
    counter = LogCounter(top_errors=3)
    counter.add(
        [
            b"2024-05-01 12:00:00,001 ERROR db: connection refused",
            b"[ERROR] db: connection refused",
            b"CRITICAL disk full",
            b"FATAL: out of memory",
            b"2024-05-01 WARNING slow query",
            b"WARN retrying",
            b"INFO started",
            b"DEBUG details",
            b"TRACE more details",
            b"no level at all",
            b"ERRORS is not a level, nor is INFORMATION",
            b"x" * 130 + b" ERROR too far into the line to be its level",
        ]
    )
    assert counter.lines == 12
    assert counter.levels == {"ERROR": 4, "WARNING": 2, "INFO": 1, "other": 5}
    assert counter.top() == [
        ("db: connection refused", 2),
        ("disk full", 1),
        ("out of memory", 1),
    ]
    assert counter.messages.exact


def test_an_error_message_with_invalid_utf8_is_replaced_not_fatal() -> None:
    assert message_of(b"ERROR bad \xff\xfe bytes", 5) == "bad \ufffd\ufffd bytes"
    assert message_of(b"ERROR: ", 5) == "(no message)"
    assert len(message_of(b"ERROR " + "é".encode() * 1000, 5)) == 200


def test_top_messages_keeps_frequent_ones_in_bounded_memory() -> None:
    """Misra-Gries: a message seen more than n/(capacity+1) times is never lost."""
    top = TopMessages(capacity=9)
    for index in range(10_000):
        top.add("timeout" if index % 3 == 0 else f"request {index} failed")
    assert len(top.counts) <= 9
    assert not top.exact
    assert top.top(1)[0][0] == "timeout"
    count = top.top(1)[0][1]
    assert 3334 - 10_000 // 10 <= count <= 3334  # at most n/(capacity+1) too low
