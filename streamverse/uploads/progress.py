"""An upload's progress, published on its broker topic: throttled bytes, every state change.

A body arrives in thousands of chunks; one event per chunk would flood every watcher and
the broker for nothing a person can see. ``Tracker.advance`` is called per chunk and only
stores the count; it publishes when ``upload_progress_interval_seconds`` have passed since
the last event (and when the last byte is in). State changes (receiving, validating,
processing, ready, failed) are always published at once. Each event is a complete
``UploadProgress`` snapshot, so a watcher that missed some loses nothing; the topic keeps
a short history (``History.snapshots``) and a watcher resuming past it gets a reset with a
fresh snapshot. The last events are ``ready`` or ``failed``, then ``upload_ended``.

Who may watch: the upload id is 128 random bits, shown only to the uploader (the create
response, the tus ``Location``), and the feed answers 404 for any other id. So the id is
the capability to read the progress (numbers and state, never the file), as a private
link is; an ``EventSource`` cannot send an ``Authorization`` header. The WebSocket, whose
first message carries the token, also checks that it is the uploader's.
"""

from __future__ import annotations

import time

from ..broker import Event, topics
from ..services import Services
from .models import UploadRow
from .schemas import UploadProgress, UploadState

PROGRESS = "progress"
UPLOAD_ENDED = "upload_ended"
"""Event type published after the final state: watchers finish."""
SMOOTHING = 0.5
"""Weight of the newest interval in the rate (an exponential moving average)."""


class Tracker:
    """One upload being received or processed in this process."""

    def __init__(
        self,
        services: Services,
        upload_id: str,
        *,
        state: UploadState = UploadState.created,
        received: int = 0,
        total: int | None = None,
    ) -> None:
        self.services = services
        self.upload_id = upload_id
        self.state = state
        self.received = received
        self.total = total
        self.processed: float | None = None
        self.reason: str | None = None
        self.media_id: str | None = None
        self.rate: float | None = None
        self._last_time = time.monotonic()
        self._last_received = received
        self._interval = services.settings.upload_progress_interval_seconds
        self._due = self._last_time + self._interval
        self.published = 0
        """Events this tracker published (bounded by time, not by chunks: see tests)."""

    @classmethod
    def from_row(cls, services: Services, row: UploadRow) -> Tracker:
        """The progress the database knows (an upload not in flight in this process)."""
        state = UploadState(row.state)
        tracker = cls(services, row.id, state=state, received=row.offset, total=row.length)
        tracker.reason, tracker.media_id = row.reason, row.media_id
        tracker.processed = 1.0 if state == UploadState.ready else None
        return tracker

    def snapshot(self) -> UploadProgress:
        total, received = self.total, self.received
        percent = None
        if total is not None:
            percent = 100.0 if total == 0 else round(min(received, total) * 100 / total, 2)
        eta = None
        if total is not None and self.rate and self.state == UploadState.receiving:
            eta = round(max(total - received, 0) / self.rate, 1)
        return UploadProgress(
            upload_id=self.upload_id,
            state=self.state,
            received=received,
            total=total,
            percent=percent,
            rate=None if self.rate is None else round(self.rate),
            eta_seconds=eta,
            processed=self.processed,
            reason=self.reason,
            media_id=self.media_id,
        )

    async def advance(self, received: int) -> None:
        """Bytes so far; publishes only when the interval has passed or all are in."""
        self.received = received
        complete = received == self.total and received != self._last_received
        if complete or time.monotonic() >= self._due:
            await self.publish()

    async def move(
        self,
        state: UploadState,
        *,
        reason: str | None = None,
        processed: float | None = None,
        media_id: str | None = None,
    ) -> None:
        """A new state, published at once; after a final one, ``upload_ended``."""
        self.state = state
        self.reason = reason if state == UploadState.failed else None
        self.processed = processed
        if media_id is not None:
            self.media_id = media_id
        await self.publish()
        if state.final:
            data = {"upload_id": self.upload_id}
            await self.services.broker.publish(self.topic, UPLOAD_ENDED, data)

    @property
    def topic(self) -> topics.Topic:
        return topics.upload_progress(self.upload_id)

    async def publish(self) -> Event:
        now = time.monotonic()
        elapsed = now - self._last_time
        if elapsed > 0 and self.state == UploadState.receiving:
            recent = (self.received - self._last_received) / elapsed
            self.rate = recent if self.rate is None else _blend(self.rate, recent)
        self._last_time, self._last_received = now, self.received
        self._due = now + self._interval
        self.published += 1
        data = self.snapshot().model_dump(mode="json")
        return await self.services.broker.publish(self.topic, PROGRESS, data)


def _blend(old: float, new: float) -> float:
    return SMOOTHING * new + (1 - SMOOTHING) * old
