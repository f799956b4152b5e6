"""What a media file holds, found by decoding it with PyAV (FFmpeg), never by its name."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import av

from .schemas import MediaKind

MAX_DIMENSION = 8192
"""Wider or taller video is refused: decoding it would take unbounded memory."""

_FORMATS = {
    MediaKind.mp4: "mp4",
    MediaKind.mov: "mov",
    MediaKind.m4a: "m4a",
    MediaKind.webm: "webm",
    MediaKind.mkv: "matroska",
    MediaKind.mp3: "mp3",
    MediaKind.ogg: "ogg",
    MediaKind.wav: "wav",
}
"""The FFmpeg demuxer name each kind must open with (FFmpeg lists several per demuxer)."""


class ProbeError(ValueError):
    """The file is not a playable file of its kind; the message says why, for the client."""


@dataclass(frozen=True, slots=True)
class Probe:
    duration_seconds: float | None
    width: int | None
    height: int | None
    video_codec: str | None
    audio_codec: str | None


def probe(path: Path, kind: MediaKind) -> Probe:
    """Open the file, check it is ``kind`` and that its main stream decodes; blocking (run
    it in a thread)."""
    try:
        with av.open(str(path), metadata_errors="ignore") as container:
            names = container.format.name.split(",")
            if _FORMATS[kind] not in names:
                raise ProbeError(f"the content is {names[0]}, not {kind.value}")
            video = container.streams.video[0] if container.streams.video else None
            audio = container.streams.audio[0] if container.streams.audio else None
            if kind.is_video and video is None:
                raise ProbeError(f"the {kind.value} file has no video stream")
            if not kind.is_video and audio is None:
                raise ProbeError(f"the {kind.value} file has no audio stream")
            main = video if kind.is_video else audio
            assert main is not None
            if video is not None and max(video.width, video.height) > MAX_DIMENSION:
                raise ProbeError(f"video larger than {MAX_DIMENSION} pixels")
            if next(container.decode(main), None) is None:
                raise ProbeError("no frame of it decodes")
            duration = None
            if container.duration:
                duration = container.duration / av.time_base
            elif main.duration is not None and main.time_base is not None:
                duration = float(main.duration * main.time_base)
            return Probe(
                duration_seconds=None if duration is None else round(duration, 3),
                width=video.width if video is not None else None,
                height=video.height if video is not None else None,
                video_codec=video.codec_context.codec.canonical_name if video is not None else None,
                audio_codec=audio.codec_context.codec.canonical_name if audio is not None else None,
            )
    except av.FFmpegError as error:
        raise ProbeError(f"it does not decode as media ({error.strerror or error})") from error
