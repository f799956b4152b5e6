"""Media on the wire: the formats the platform accepts, and one uploaded file's record."""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from ..schemas import Schema, UTCDateTime


class MediaKind(StrEnum):
    """The allow-list of formats, each recognised by its content (magic bytes), never by the
    client's Content-Type or file name."""

    mp4 = "mp4"
    mov = "mov"
    webm = "webm"
    mkv = "mkv"
    mp3 = "mp3"
    ogg = "ogg"
    m4a = "m4a"
    wav = "wav"

    @property
    def content_type(self) -> str:
        return CONTENT_TYPES[self]

    @property
    def is_video(self) -> bool:
        return self in {MediaKind.mp4, MediaKind.mov, MediaKind.webm, MediaKind.mkv}

    @property
    def extension(self) -> str:
        return f".{self.value}"


CONTENT_TYPES = {
    MediaKind.mp4: "video/mp4",
    MediaKind.mov: "video/quicktime",
    MediaKind.webm: "video/webm",
    MediaKind.mkv: "video/x-matroska",
    MediaKind.mp3: "audio/mpeg",
    MediaKind.ogg: "audio/ogg",
    MediaKind.m4a: "audio/mp4",
    MediaKind.wav: "audio/wav",
}


class MediaStatus(StrEnum):
    processing = "processing"
    ready = "ready"
    failed = "failed"


class Media(Schema):
    id: str
    owner_id: str
    title: str
    description: str
    kind: MediaKind
    content_type: str
    size: int = Field(description="Bytes.")
    sha256: str
    duration_seconds: float | None = Field(description="From probing the file.")
    original_name: str = Field(description="The client's file name, sanitized; metadata only.")
    status: MediaStatus = Field(
        description="HLS packaging of video: processing, then ready or failed. Audio is ready "
        "at once. The original plays (with Range) whatever the status."
    )
    created_at: UTCDateTime
    width: int | None = Field(None, description="Pixels, for video.")
    height: int | None = Field(None, description="Pixels, for video.")
    video_codec: str | None = Field(None, examples=["h264"])
    audio_codec: str | None = Field(None, examples=["aac"])
    reason: str | None = Field(None, description="Why packaging failed (status failed).")
    url: str = Field("", description="The original file: GET it, with Range to seek.")
    hls_url: str | None = Field(None, description="The HLS playlist, once status is ready.")


class MediaPage(Schema):
    """One page of ``GET /videos``: newest first."""

    items: list[Media]
    total: int = Field(description="Media in the whole list.")
    limit: int
    offset: int
    next_offset: int | None = Field(description="Offset of the next page; null on the last.")
