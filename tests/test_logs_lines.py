"""The line splitter and the counter, without a server: every way of cutting the same bytes
into chunks gives the same lines (hypothesis), and the counts follow the documented rules."""

from __future__ import annotations

import random
import re
from collections import Counter

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


# --- The counter against a plain per-line reference -------------------------------------

LEVEL_OF = dict.fromkeys([b"ERROR", b"CRITICAL", b"FATAL"], "ERROR")
LEVEL_OF |= {b"WARNING": "WARNING", b"WARN": "WARNING", b"INFO": "INFO"}
LEVEL_OF |= dict.fromkeys([b"DEBUG", b"TRACE"], "other")


def reference_counts(lines: list[bytes]) -> tuple[dict[str, int], Counter[str]]:
    """The documented rules, one line at a time: the first word (a maximal run of ASCII
    letters, digits and ``_``) that is a level word is the level if it ends by byte 120."""
    levels, messages = dict.fromkeys(("ERROR", "WARNING", "INFO", "other"), 0), Counter[str]()
    for line in lines:
        word = next((w for w in re.finditer(rb"\w+", line) if w.group() in LEVEL_OF), None)
        if word is None or word.end() > 120:
            levels["other"] += 1
            continue
        levels[LEVEL_OF[word.group()]] += 1
        if LEVEL_OF[word.group()] == "ERROR":
            raw = line[word.end() : word.end() + 800].lstrip(b" \t:-]|>").rstrip()
            messages[raw.decode("utf-8", "replace")[:200].rstrip() or "(no message)"] += 1
    return levels, messages


WORDS = [*LEVEL_OF, b"ERRORS", b"INFORMATION", b"xERROR", b"WARN_", b"INFO1", b"error", b"Info"]
BITS = [b" ", b": ", b"[", b"] ", b" - ", b"|", b">", b"\t", b"\r", b"db", b"x" * 40, b"." * 37]
MESSAGES = [
    b" db: connection refused",
    b": disk full  ",
    b"] caf\xc3\xa9 \xff\xfe not UTF-8",
    b" " + b"long " * 60,  # more than 200 characters
    "é".encode() * 500,  # more than 800 bytes: cut in the middle of a character
    b" " + "€".encode() * 267 + b"\xe2\x82",  # ends inside a character
    "😀".encode() * 250,  # 200 characters are exactly the 800 bytes looked at
    b"S retried",  # ERRORS: not a level word
    b"",
    b" \t ",
    b"_and more",  # ERROR_and: not a level word
]


def random_line(rng: random.Random, distinct_ids: bool) -> bytes:
    """A line with level words in odd places: inside words, twice, near byte 120."""
    shape = rng.random()
    if shape < 0.05:
        return b""
    if shape < 0.3:  # a word that ends at bytes 116 to 122: the edge of the window
        word = rng.choice(WORDS)
        line = b"." * (rng.randint(116, 122) - len(word)) + word
    elif shape < 0.7:
        line = b"2024-05-01 12:00:%02d [api] " % rng.randrange(60) + rng.choice(list(LEVEL_OF))
    else:
        line = b"".join(rng.choice(WORDS + BITS) for _ in range(rng.randint(0, 6)))
    message = rng.choice(MESSAGES)
    if distinct_ids:  # mostly messages seen once, and one frequent message
        odds = rng.random()
        message = b" request %d failed" % rng.randrange(10**9) if odds < 0.6 else message
        message = MESSAGES[0] if odds > 0.8 else message
    return line + message + b"".join(rng.choice(WORDS + BITS) for _ in range(rng.randint(0, 2)))


def random_log(seed: int, lines: int, distinct_ids: bool) -> bytes:
    rng = random.Random(seed)
    body = [random_line(rng, distinct_ids) + rng.choice([b"\n", b"\r\n"]) for _ in range(lines)]
    return b"".join(body)[: -rng.randint(0, 1) or None]  # with or without a final newline


def summary(counter: LogCounter) -> tuple[int, dict[str, int], dict[str, int]]:
    return counter.lines, counter.levels, counter.messages.counts


def count_in_chunks(data: bytes, seed: int, top_errors: int, limit: int) -> LogCounter:
    rng, splitter, counter = random.Random(seed), LineSplitter(limit), LogCounter(top_errors)
    start = 0
    while start < len(data):
        end = start + rng.choice([1, 7, 100, 4096, 65536])
        counter.add(splitter.feed(data[start:end]))
        start = end
    counter.add(splitter.finish())
    return counter


@pytest.mark.parametrize(("seed", "limit"), [(1, 8192), (2, 8192), (3, 100)])
def test_the_counter_gives_the_reference_counts_exactly(seed: int, limit: int) -> None:
    data = random_log(seed, 3000, distinct_ids=False)
    lines = reference(data, limit)[0]
    levels, messages = reference_counts(lines)
    assert min(levels.values()) > 100  # every kind of line is there
    assert 100 < len(messages) <= 200  # many messages, all with room in the counters

    counter = count_in_chunks(data, seed, top_errors=20, limit=limit)

    assert (counter.lines, counter.levels) == (len(lines), levels)
    assert counter.messages.exact
    assert counter.messages.counts == messages
    assert counter.top() == sorted(messages.items(), key=lambda item: (-item[1], item[0]))[:20]
    at_once = LogCounter(top_errors=20)
    at_once.add(lines)  # thousands of lines in one call
    assert summary(at_once) == (len(lines), levels, messages)


@pytest.mark.parametrize("seed", [4, 5])
def test_with_many_distinct_messages_the_counts_keep_the_misra_gries_bound(seed: int) -> None:
    data = random_log(seed, 6000, distinct_ids=True)
    lines = reference(data, 8192)[0]
    levels, messages = reference_counts(lines)

    counter = count_in_chunks(data, seed, top_errors=2, limit=8192)

    assert (counter.lines, counter.levels) == (len(lines), levels)
    top = counter.messages
    assert not top.exact and len(top.counts) <= top.capacity == 20
    bound = sum(messages.values()) / (top.capacity + 1)
    frequent = {message for message, count in messages.items() if count > bound}
    assert frequent and frequent <= top.counts.keys()
    for message, count in top.counts.items():
        assert messages[message] - bound <= count <= messages[message]


lines_of_words = st.lists(
    st.lists(st.sampled_from([*WORDS, *BITS, *MESSAGES, b"\xc3", b"x" * 3])).map(b"".join),
    max_size=30,
)


@given(lines=lines_of_words)
def test_any_lines_give_the_reference_counts(lines: list[bytes]) -> None:
    lines = [line.replace(b"\n", b"") for line in lines]
    counter = LogCounter(top_errors=100)  # room for every message: the counts are exact
    counter.add(iter(lines))
    assert summary(counter) == (len(lines), *reference_counts(lines))


@pytest.mark.parametrize(
    ("line", "level"),
    [
        (b"." * 115 + b" INFO", "INFO"),  # ends at byte 120: in the window
        (b"." * 116 + b" INFO", "other"),  # ends at byte 121
        (b"." * 111 + b" CRITICAL x", "ERROR"),
        (b"." * 112 + b" CRITICAL x", "other"),
        (b"." * 114 + b" ERRORS", "other"),  # ERROR ends at 120 but is part of a longer word
        (b"." * 115 + b" WARNING", "other"),  # WARN would end at 120, but the word is WARNING
        (b"ERRORS and INFORMATION, then WARN", "WARNING"),
        (b"DEBUG then ERROR", "other"),  # the first level word counts
        (b"error: lower case is not a level", "other"),
        (b"caf\xc3\xa9ERROR: a non-ASCII byte is not a letter", "ERROR"),
    ],
)
def test_the_level_window_rule(line: bytes, level: str) -> None:
    counter = LogCounter()
    counter.add([line])
    assert counter.levels[level] == 1


def test_a_line_with_a_newline_is_refused() -> None:
    counter = LogCounter()
    with pytest.raises(ValueError, match="split the data into lines"):
        counter.add([b"INFO one"] * 5000 + [b"ERROR two\nINFO three"])
    assert (counter.lines, counter.levels["INFO"]) == (0, 0)  # nothing was counted


def test_top_messages_takes_weighted_counts() -> None:
    top = TopMessages(capacity=2)
    top.add("a", 5)
    top.add("b", 3)
    top.add("a", 1)
    assert (top.counts, top.exact) == ({"a": 6, "b": 3}, True)
    top.add("c", 4)  # full: everyone, c included, goes down by 3; b is freed, c fits with 1
    assert (top.counts, top.exact) == ({"a": 3, "c": 1}, False)
    top.add("d", 1)  # down by 1: c is freed and nothing is left of d
    assert top.counts == {"a": 2}
    top.add("e", 7)  # there is room again
    assert top.counts == {"a": 2, "e": 7}
    top.add("f", 9)  # full: down by 2, a is freed and the rest of f fits
    assert top.counts == {"e": 5, "f": 7}
    top.add("g", 12)  # down by 5 (e freed), then there is room for the 7 left
    assert top.counts == {"f": 2, "g": 7}
    nothing = TopMessages(capacity=0)
    nothing.add("a", 3)
    assert (nothing.counts, nothing.exact) == ({}, False)
