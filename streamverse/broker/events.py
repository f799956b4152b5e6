"""What the broker hands out: events with per-topic ids, the reset marker, the drop notice."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

RESET = "reset"
"""Event type of the marker sent when a ``since`` id is no longer (or never was) in history."""


@dataclass(frozen=True, slots=True)
class Event:
    """One published event. ``id`` increases within its topic; ``data`` is JSON-ready."""

    topic: str
    id: int
    type: str
    data: Any
    cache: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    """Encodings of this event (JSON, SSE frame), made once and shared by every subscriber."""

    def json(self) -> str:
        """The data as compact JSON, encoded on first use."""
        text: str | None = self.cache.get("json")
        if text is None:
            text = self.cache["json"] = json.dumps(self.data, separators=(",", ":"))
        return text


class SubscriberDropped(Exception):
    """Raised to a subscriber that fell too far behind. Resume with ``since=last_id``."""

    def __init__(self, reason: str, last_id: int | None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.last_id = last_id


def clock_id() -> int:
    """Microseconds since 1970: where a new topic's ids start.

    A topic made again (the process restarted, or the topic was forgotten) starts above
    every id its earlier self gave out, unless that one published more than an event per
    microsecond. So an id from before is always older than the new history, and its client
    gets a reset instead of resuming on unrelated events. (Below 2**53: safe in JavaScript.)
    Redis Streams ids are time-based too, so every backend keeps this property.
    """
    return time.time_ns() // 1000
