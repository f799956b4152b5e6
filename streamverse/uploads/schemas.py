"""Uploads on the wire: the create step, the progress events, the result of an upload."""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from ..schemas import Schema
from ..videos.schemas import Media


class UploadState(StrEnum):
    """Where an upload is. ``ready`` and ``failed`` are final."""

    created = "created"
    """Made by ``POST /uploads``; no byte received yet."""
    receiving = "receiving"
    validating = "validating"
    """Every byte is in; its content is being checked (magic bytes, then a probe)."""
    processing = "processing"
    """Stored as media; the videos domain is packaging it (HLS)."""
    ready = "ready"
    failed = "failed"

    @property
    def final(self) -> bool:
        return self in FINAL


FINAL = frozenset({UploadState.ready, UploadState.failed})


class UploadCreate(Schema):
    """What a client may say before it sends the bytes (all optional)."""

    size: int | None = Field(
        None, ge=0, description="The request body's expected bytes, for percent and eta."
    )
    title: str | None = Field(None, max_length=200)
    description: str | None = Field(None, max_length=5000)


class UploadTicket(Schema):
    """An upload id, known before the body is sent, and where to use it."""

    id: str
    state: UploadState
    progress_url: str = Field(description="SSE progress feed (resume with Last-Event-ID).")
    progress_ws_url: str = Field(description="The same events on a WebSocket.")
    upload_url: str = Field(description="Where to POST the multipart body with this id.")


class UploadProgress(Schema):
    """One progress event's data: a full snapshot of the upload, so any one event will do."""

    upload_id: str
    state: UploadState
    received: int = Field(description="Bytes received (of the request body, or tus offset).")
    total: int | None = Field(description="Bytes expected, when known.")
    percent: float | None = Field(description="received / total * 100, when total is known.")
    rate: float | None = Field(description="Bytes per second, recently.")
    eta_seconds: float | None = Field(description="Seconds left at that rate.")
    processed: float | None = Field(
        None, description="Fraction of the server's processing done (state processing)."
    )
    reason: str | None = Field(None, description="Why it failed (state failed).")
    media_id: str | None = Field(None, description="The media it became, once stored.")


class UploadResult(Media):
    """A stored upload: the media record (id, size, sha256, duration, kind) and its upload."""

    upload_id: str
    progress_url: str
