"""What a log's lines add up to: counts by level and the most frequent error messages, in
memory that does not grow with the log.

A line's level is the first of ``ERROR CRITICAL FATAL WARNING WARN INFO DEBUG TRACE`` (upper
case) that is a whole word, with no ASCII letter, digit or ``_`` right before or after it on
the whole line, and ends within the line's first 120 bytes (timestamps and logger names come
first in most formats): ``b"x" * 115 + b" INFO"`` has a level, ``b"x" * 116 + b" INFO"`` has
not, nor has a line whose first whole level word ends at byte 121 or later, and ``ERRORS``
is no level even when its ``ERROR`` ends at byte 120. CRITICAL and FATAL count as ERROR,
WARN as WARNING, DEBUG, TRACE and lines without a level as ``other``. Only error lines are
decoded: their message is the (at most 800) bytes after the level word, separators
(`` \\t:-]|>``) stripped in front and white space at the end, decoded as UTF-8 (invalid bytes
replaced by U+FFFD) and cut to 200 characters; ``(no message)`` if nothing is left.

Why ``findall`` over joined lines: a regular expression search per line in a Python loop
made counting the log processor's bottleneck, so ``add`` joins the lines it is given into
blocks (1024 lines each: small enough to stay in the CPU cache) and lets ``re`` walk each
block in C. The pattern matches a line's level word and swallows the rest of the line, so a
line matches once at most; a non-error line's match is its level word's first letter (a
cached one-byte object: nothing is allocated), an error line's is the level word and the
bytes of its message. A ``Counter`` adds the matches up (lines without one are ``other``),
and each distinct message is decoded and cut once per ``add``, not once per line.

Counting every distinct error message exactly would need memory in proportion to the
number of distinct messages, which a log of request ids can make as large as the log.
``TopMessages`` is the Misra-Gries summary instead, in its weighted form (all of one ``add``'s
count of a message goes in at once): ``capacity`` counters, and when a new message finds them
full, every counter and the newcomer's count go down by the smallest of them (emptied
counters are freed) until the rest of the newcomer fits or nothing is left of it. A message
seen more than ``n / (capacity + 1)`` times in ``n`` errors is always among the counters;
each count is at most that much too low, never too high; ``exact`` says no counter was ever
decremented, so the counts are the true ones (the usual case: logs repeat a few messages).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

LEVELS = ("ERROR", "WARNING", "INFO", "other")
_COUNTED_AS = {
    b"ERROR": "ERROR",
    b"CRITICAL": "ERROR",
    b"FATAL": "ERROR",
    b"WARNING": "WARNING",
    b"WARN": "WARNING",
    b"INFO": "INFO",
    b"DEBUG": "other",
    b"TRACE": "other",
}
LEVEL_WINDOW = 120
MESSAGE_CHARS = 200
_MESSAGE_BYTES = 4 * MESSAGE_CHARS  # enough bytes for 200 characters of UTF-8
_SEPARATORS = b" \t:-]|>"
_GROUP = 1024  # lines per findall: bytes.join briefly takes 80 bytes a line besides the block


def _line_pattern() -> re.Pattern[bytes]:
    """One match per line with a level; see the module docstring for what it captures.

    Each alternative starts with a literal letter so that ``re`` scans for the set of first
    letters in C; the word's start is checked by a look-behind after that letter.
    """
    in_window = rb"(?<![^\n]{%d})" % (LEVEL_WINDOW + 1)  # ends <= 120 bytes into its line
    items = []
    for word, level in _COUNTED_AS.items():
        first, rest = word[:1], word[1:]
        starts = first + rb"(?<!\w" + first + rb")"
        if level == "ERROR":
            items.append(starts + rest + rb"\b" + in_window + rb"[^\n]{0,%d}" % _MESSAGE_BYTES)
        else:
            items.append(starts + rb"(?=" + rest + rb"\b" + in_window + rb")")
    return re.compile(rb"(" + b"|".join(items) + rb")[^\n]*")


def _level_by_letter() -> dict[bytes, str]:
    """A non-error match is its word's first letter, so that letter must tell the level."""
    by_letter: dict[bytes, str] = {}
    for word, level in _COUNTED_AS.items():
        if level != "ERROR" and by_letter.setdefault(word[:1], level) != level:
            raise AssertionError(f"{word!r} shares its first letter with another level")
    return by_letter


_LINE = _line_pattern()
_BY_LETTER = _level_by_letter()
_ERROR_WORD_BYTES = {word[0]: len(word) for word, level in _COUNTED_AS.items() if level == "ERROR"}


class TopMessages:
    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.counts: dict[str, int] = {}
        self.exact = True

    def add(self, message: str, count: int = 1) -> None:
        """Count ``message`` ``count`` more times (weighted Misra-Gries)."""
        counts = self.counts
        if message in counts:
            counts[message] += count
            return
        while len(counts) >= self.capacity:
            self.exact = False
            if not counts:  # capacity 0: nothing is ever kept
                return
            cut = min(count, min(counts.values()))
            for key in [key for key, n in counts.items() if n <= cut]:
                del counts[key]
            for key in counts:
                counts[key] -= cut
            count -= cut
            if not count:
                return
        counts[message] = count

    def top(self, n: int) -> list[tuple[str, int]]:
        """The ``n`` largest counts, most frequent first (ties in message order)."""
        return sorted(self.counts.items(), key=lambda item: (-item[1], item[0]))[:n]


class LogCounter:
    """Feed it lines (bytes, without line endings); read ``lines``, ``levels``, ``top()``."""

    def __init__(self, top_errors: int = 10) -> None:
        self.top_errors = top_errors
        self.lines = 0
        self.levels = dict.fromkeys(LEVELS, 0)
        self.messages = TopMessages(capacity=10 * top_errors)

    def add(self, lines: Iterable[bytes]) -> None:
        """Count ``lines`` (none may contain ``b"\\n"``, as ``LineSplitter`` makes them)."""
        lines = lines if isinstance(lines, list) else list(lines)
        found: Counter[bytes] = Counter()
        matched = 0
        for start in range(0, len(lines), _GROUP):
            group = lines[start : start + _GROUP]
            block = b"\n".join(group)
            if block.count(b"\n") != len(group) - 1:
                raise ValueError("a line contains b'\\n': split the data into lines first")
            matches = _LINE.findall(block)
            matched += len(matches)
            found.update(matches)
        levels = self.levels
        for letter, level in _BY_LETTER.items():
            levels[level] += found.pop(letter, 0)
        levels["ERROR"] += found.total()  # what is left: error lines' word and message bytes
        levels["other"] += len(lines) - matched
        self.lines += len(lines)
        messages: Counter[str] = Counter()
        for match, count in found.items():
            messages[_message(match[_ERROR_WORD_BYTES[match[0]] :])] += count
        for message, count in messages.most_common():
            self.messages.add(message, count)

    def top(self) -> list[tuple[str, int]]:
        return self.messages.top(self.top_errors)


def message_of(line: bytes, after: int) -> str:
    """The text after the level, decoded with invalid UTF-8 replaced, at most 200 chars."""
    return _message(line[after : after + _MESSAGE_BYTES])


def _message(raw: bytes) -> str:
    """``message_of`` for the (at most 800) bytes right after the level word."""
    raw = raw.lstrip(_SEPARATORS).rstrip()
    return raw.decode("utf-8", "replace")[:MESSAGE_CHARS].rstrip() or "(no message)"
