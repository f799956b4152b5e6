"""Every broker topic the platform uses, and each one's policy, declared in one place.

A topic's name is what backends store it under (``stream:{id}:comments``); its ``history``
says which history size applies. Most topics carry events a client must not miss, so they
keep the full ``history_size`` (a resuming client gets exactly what it missed). Topics whose
events are complete snapshots (analytics, stats) keep ``snapshot_history_size``: past that, a
reset with a fresh snapshot is just as good as a replay.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class History(StrEnum):
    events = "events"
    """Every event matters: keep ``Settings.history_size`` of them."""
    snapshots = "snapshots"
    """Each event replaces the last: keep ``Settings.snapshot_history_size``."""


@dataclass(frozen=True, slots=True)
class Topic:
    name: str
    history: History = History.events


STREAM_ENDED = "stream_ended"
"""Event type published on every per-stream topic when the stream ends, so consumers finish."""

STREAMS = Topic("streams")
"""Status changes of every stream (``status`` events)."""

GLOBAL_STATS = Topic("global:stats", History.snapshots)
"""The platform's numbers (``stats`` events), published when they change."""


def comments(stream_id: str) -> Topic:
    return Topic(f"stream:{stream_id}:comments")


def chat(stream_id: str) -> Topic:
    return Topic(f"stream:{stream_id}:chat")


def analytics(stream_id: str) -> Topic:
    return Topic(f"stream:{stream_id}:analytics", History.snapshots)


def upload_progress(upload_id: str) -> Topic:
    """One upload's ``progress`` events (each a full snapshot), then ``upload_ended``."""
    return Topic(f"upload:{upload_id}:progress", History.snapshots)


def log_job(job_id: str) -> Topic:
    """A log job's ``progress`` events, then ``summary`` or ``failed``: each carries the
    job's full numbers so far, so a reset with a fresh snapshot is as good as a replay."""
    return Topic(f"logs:{job_id}:progress", History.snapshots)


def per_stream(stream_id: str) -> tuple[Topic, ...]:
    """The topics that end with ``STREAM_ENDED`` when the stream ends."""
    return comments(stream_id), chat(stream_id), analytics(stream_id)
