"""A Server-Sent Events parser that follows the HTML spec's algorithm, as a browser does.

Written independently of ``streamverse.sse`` so that what reads events back checks the
encoder against the spec, not against itself. Lesson 02's exercise check reads the
learner's frames with it, and the tests (``tests/sse_client.py``) read the platform's
feeds with it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any


@dataclass
class SSEEvent:
    type: str
    data: str
    last_event_id: str

    def json(self) -> Any:
        return json.loads(self.data)


@dataclass
class SSEParser:
    """Feed it text in arbitrary chunks; it returns the events a browser would dispatch."""

    last_event_id: str = ""
    retry: int | None = None
    comments: list[str] = field(default_factory=list)
    _buffer: str = ""
    _data: list[str] = field(default_factory=list)
    _type: str = ""

    def feed(self, text: str) -> list[SSEEvent]:
        self._buffer += text
        events: list[SSEEvent] = []
        while True:
            index = _line_end(self._buffer)
            if index is None:
                return events
            end, width = index
            line, self._buffer = self._buffer[:end], self._buffer[end + width :]
            event = self._process(line)
            if event is not None:
                events.append(event)

    def _process(self, line: str) -> SSEEvent | None:
        if line == "":
            return self._dispatch()
        if line.startswith(":"):
            self.comments.append(line[1:].removeprefix(" "))
            return None
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "event":
            self._type = value
        elif name == "data":
            self._data.append(value)
        elif name == "id" and "\0" not in value:
            self.last_event_id = value
        elif name == "retry" and value.isascii() and value.isdigit():
            self.retry = int(value)
        return None

    def _dispatch(self) -> SSEEvent | None:
        data, kind = self._data, self._type
        self._data, self._type = [], ""
        if not data:
            return None
        return SSEEvent(kind or "message", "\n".join(data), self.last_event_id)


def _line_end(buffer: str) -> tuple[int, int] | None:
    """Position and width of the first complete line break (CRLF, CR or LF)."""
    newline, carriage = buffer.find("\n"), buffer.find("\r")
    if carriage == -1 or (newline != -1 and newline < carriage):
        return None if newline == -1 else (newline, 1)
    if carriage + 1 == len(buffer):
        return None  # a CR at the end may be the first half of CRLF
    return carriage, 2 if buffer[carriage + 1] == "\n" else 1
