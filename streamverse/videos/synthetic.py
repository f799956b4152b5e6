"""A few seconds of synthetic video or audio, written with PyAV: test and lesson media are
generated, never downloaded.

The picture is a bar that sweeps across a dark frame (so every frame differs and seeking
shows), the sound a 440 Hz tone. The container follows the file's suffix.
"""

from __future__ import annotations

import array
import math
import random
from fractions import Fraction
from pathlib import Path

import av

_CODECS = {
    ".mp4": ("libx264", "aac"),
    ".mov": ("libx264", "aac"),
    ".mkv": ("libx264", "aac"),
    ".webm": ("libvpx-vp9", "libopus"),
    ".m4a": (None, "aac"),
    ".mp3": (None, "libmp3lame"),
    ".ogg": (None, "libopus"),
    ".wav": (None, "pcm_s16le"),
}
SAMPLE_RATE = 48_000


def write_media(
    path: Path,
    seconds: float = 2.0,
    *,
    width: int = 160,
    height: int = 120,
    fps: int = 24,
    audio: bool = True,
    video: bool = True,
    noise: bool = False,
) -> Path:
    """Write ``seconds`` of synthetic media to ``path`` (``.mp4``, ``.webm``, ``.mkv``,
    ``.mov`` with video unless ``video=False``; ``.m4a``, ``.mp3``, ``.ogg``, ``.wav`` audio
    only). ``noise`` fills the picture with (seeded) random pixels, which do not compress:
    a file big enough that a player must fetch it in ranges."""
    video_codec, audio_codec = _CODECS[path.suffix.lower()]
    if not video:
        video_codec = None
    frames = round(seconds * fps)
    with av.open(str(path), "w") as container:
        picture: av.VideoStream | None = None
        sound: av.AudioStream | None = None
        if video_codec is not None:
            # A keyframe every second, so a player can seek without reading from the start.
            options = {
                "g": str(fps),
                **({"preset": "ultrafast"} if video_codec == "libx264" else {"speed": "8"}),
            }
            added = container.add_stream(video_codec, rate=fps, options=options)
            assert isinstance(added, av.VideoStream)
            picture = added
            picture.width, picture.height, picture.pix_fmt = width, height, "yuv420p"
        if audio or video_codec is None:
            tone = container.add_stream(audio_codec, rate=SAMPLE_RATE, layout="mono")
            assert isinstance(tone, av.AudioStream)
            sound = tone
        if picture is not None:
            for index in range(frames):
                frame = (
                    _noise(width, height, index)
                    if noise
                    else _picture(width, height, index, frames)
                )
                frame.pts, frame.time_base = index, Fraction(1, fps)
                container.mux(picture.encode(frame))
            container.mux(picture.encode(None))
        if sound is not None:
            total, step = round(seconds * SAMPLE_RATE), 960
            for start in range(0, total, step):
                container.mux(sound.encode(_tone(start, min(step, total - start))))
            container.mux(sound.encode(None))
    return path


def _picture(width: int, height: int, index: int, count: int) -> av.VideoFrame:
    bar = (index * width) // max(count, 1)
    row = bytearray(b"\x20\x20\x40" * width)
    for x in range(max(0, bar - 4), min(width, bar + 4)):
        row[3 * x : 3 * x + 3] = b"\xf0\xc0\x20"
    frame = av.VideoFrame(width, height, "rgb24")
    plane = frame.planes[0]
    plane.update(bytes(row).ljust(plane.line_size, b"\0") * height)
    return frame


def _noise(width: int, height: int, index: int) -> av.VideoFrame:
    frame = av.VideoFrame(width, height, "rgb24")
    plane = frame.planes[0]
    plane.update(random.Random(index).randbytes(plane.line_size * height))
    return frame


def _tone(start: int, samples: int) -> av.AudioFrame:
    wave = array.array(
        "h",
        (
            int(6000 * math.sin(2 * math.pi * 440 * (start + k) / SAMPLE_RATE))
            for k in range(samples)
        ),
    )
    frame = av.AudioFrame(format="s16", layout="mono", samples=samples)
    frame.planes[0].update(wave.tobytes().ljust(frame.planes[0].buffer_size, b"\0"))
    frame.sample_rate, frame.pts, frame.time_base = SAMPLE_RATE, start, Fraction(1, SAMPLE_RATE)
    return frame
