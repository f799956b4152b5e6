"""The backend contract: only what must live in the shared medium.

A backend stores events and carries them between processes; it knows nothing of
subscribers. ``Broker`` does the rest once, for every backend: mailboxes, drops, replay,
the reset marker, counts, and closing the gap between reading history and live delivery.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..events import Event

Deliver = Callable[[Event], None]
"""Called by the backend with every event published to a topic this process listens to."""


@dataclass(frozen=True, slots=True)
class History:
    """A topic's newest id, and the events after a given id, or None when history cannot
    bridge the gap (the id is older than what is kept, or newer than the newest)."""

    newest: int
    after: list[Event] | None


class Backend(ABC):
    def __init__(self, deliver: Deliver) -> None:
        self.deliver = deliver

    async def connect(self) -> None:  # noqa: B027  (optional: memory needs nothing)
        """Open connections, start reader tasks (nothing to do for memory)."""

    async def close(self) -> None:  # noqa: B027
        """Release what ``connect`` acquired."""

    @abstractmethod
    async def publish(self, topic: str, keep: int, type: str, data: Any) -> Event:
        """Give the event the topic's next id, keep the newest ``keep`` events, and deliver
        it to every process listening to the topic (this one included)."""

    @abstractmethod
    async def history(self, topic: str, keep: int, since: int | None) -> History:
        """The newest id and, unless ``since`` is None, the events after ``since``."""

    @abstractmethod
    async def listen(self, topic: str) -> None:
        """Start delivering the topic's new events to this process."""

    @abstractmethod
    async def unlisten(self, topic: str) -> None:
        """Stop delivering them (the last local subscriber left)."""
