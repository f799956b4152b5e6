"""What a log's lines add up to: counts by level and the most frequent error messages, in
memory that does not grow with the log.

The level is the first of ``ERROR CRITICAL FATAL WARNING WARN INFO DEBUG TRACE`` found as a
whole word in a line's first 120 bytes (timestamps and logger names come first in most
formats); CRITICAL and FATAL count as ERROR, WARN as WARNING, DEBUG, TRACE and lines
without a level as ``other``. Only error lines are decoded (UTF-8, invalid bytes replaced
by U+FFFD): their message is the text after the level.

Counting every distinct error message exactly would need memory in proportion to the
number of distinct messages, which a log of request ids can make as large as the log.
``TopMessages`` is the Misra-Gries summary instead: ``capacity`` counters, and when a new
message finds them full, every counter goes down by one (emptied ones are freed). A message
seen more than ``n / (capacity + 1)`` times in ``n`` errors is always among the counters;
each count is at most that much too low; ``exact`` says no counter was ever decremented, so
the counts are the true ones (the usual case: logs repeat a few messages).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

LEVELS = ("ERROR", "WARNING", "INFO", "other")
_LEVEL = re.compile(rb"\b(ERROR|CRITICAL|FATAL|WARNING|WARN|INFO|DEBUG|TRACE)\b")
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
_SEPARATORS = b" \t:-]|>"


class TopMessages:
    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.counts: dict[str, int] = {}
        self.exact = True

    def add(self, message: str) -> None:
        counts = self.counts
        if message in counts:
            counts[message] += 1
        elif len(counts) < self.capacity:
            counts[message] = 1
        else:
            self.exact = False
            for key in list(counts):
                if counts[key] == 1:
                    del counts[key]
                else:
                    counts[key] -= 1

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
        levels, search, counted_as = self.levels, _LEVEL.search, _COUNTED_AS
        seen = 0
        for line in lines:
            seen += 1
            found = search(line, 0, LEVEL_WINDOW)
            if found is None:
                levels["other"] += 1
                continue
            level = counted_as[found.group()]
            levels[level] += 1
            if level == "ERROR":
                self.messages.add(message_of(line, found.end()))
        self.lines += seen

    def top(self) -> list[tuple[str, int]]:
        return self.messages.top(self.top_errors)


def message_of(line: bytes, after: int) -> str:
    """The text after the level, decoded with invalid UTF-8 replaced, at most 200 chars."""
    raw = line[after : after + 4 * MESSAGE_CHARS].lstrip(_SEPARATORS).rstrip()
    return raw.decode("utf-8", "replace")[:MESSAGE_CHARS].rstrip() or "(no message)"
