"""The SSE wire format: one small, spec-conformant encoder, and the resume id parser.

``fastapi.sse`` is the reference for the wire format (lesson 02 teaches it first). The
platform does not use it for fan-out because it validates and encodes a Pydantic model per
event per connection; here an event is encoded once and the same bytes go to every
subscriber. ``bench/bench_sse_fanout.py`` measures the difference side by side.

Wire format (https://html.spec.whatwg.org/multipage/server-sent-events.html):
``event:``, ``id:``, one ``data:`` line per line of the payload, a blank line to end the
event; lines starting with ``:`` are comments (keep-alives); ``retry:`` hints the delay.
"""

from __future__ import annotations

import json
import re
from typing import Any

from ..broker import Event
from ..errors import BadRequest

MEDIA_TYPE = "text/event-stream"
HEADERS = {
    "Cache-Control": "no-cache",
    "X-Accel-Buffering": "no",  # nginx and friends: do not buffer the stream
}
KEEPALIVE = b": keepalive\n\n"
_LINE_BREAKS = re.compile(r"\r\n|\r|\n")


def encode(
    data: str | None = None,
    *,
    event: str | None = None,
    id: str | int | None = None,
    retry: int | None = None,
    comment: str | None = None,
) -> bytes:
    """One SSE frame. Multi-line data becomes several ``data:`` lines, as the spec requires."""
    lines: list[str] = []
    if comment is not None:
        lines.extend(f": {line}" for line in _LINE_BREAKS.split(comment))
    if event is not None:
        _single_line("event", event)
        lines.append(f"event: {event}")
    if id is not None:
        id = str(id)
        _single_line("id", id)
        if "\0" in id:
            raise ValueError("an SSE id must not contain NUL")
        lines.append(f"id: {id}")
    if retry is not None:
        lines.append(f"retry: {int(retry)}")
    if data is not None:
        lines.extend(f"data: {line}" for line in _LINE_BREAKS.split(data))
    return ("\n".join(lines) + "\n\n").encode()


def _single_line(field: str, value: str) -> None:
    if "\n" in value or "\r" in value:
        raise ValueError(f"an SSE {field} must be a single line")


def frame(event: Event) -> bytes:
    """The event's SSE bytes, encoded on first use and shared by every subscriber."""
    cached: bytes | None = event.cache.get("sse")
    if cached is None:
        cached = event.cache["sse"] = encode(event.json(), event=event.type, id=event.id)
    return cached


def last_event_id(header: str | None, query: str | None) -> int | None:
    """The resume point from ``Last-Event-ID`` (or ``?last_event_id=`` for clients that cannot
    set headers). An empty value means "from now"; anything but a non-negative integer is 400.
    """
    raw = header if header is not None else query
    if raw is None or raw.strip() == "":
        return None
    raw = raw.strip()
    if not raw.isdecimal() or not raw.isascii() or len(raw) > 18:
        raise BadRequest(
            f"malformed Last-Event-ID {raw[:40]!r}: expected the integer id of the last "
            "event received"
        )
    return int(raw)


def to_json(data: Any) -> str:
    """A Pydantic model or plain data as compact JSON."""
    if hasattr(data, "model_dump_json"):
        return str(data.model_dump_json())
    return json.dumps(data, separators=(",", ":"))
