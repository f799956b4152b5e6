"""HLS packaging with PyAV: any accepted video becomes H.264/AAC in MPEG-TS segments and a
VOD playlist, the rendition every HLS player (Safari natively, hls.js elsewhere) plays.

Blocking and CPU-bound: ``tasks`` runs it in a worker thread. It transcodes rather than
copies so that segments start on a keyframe every ``segment_seconds`` whatever the upload's
keyframe spacing, and the picture is scaled down to ``max_height`` (even dimensions, as
4:2:0 chroma needs). ``progress`` gets the fraction done, in steps of at least 1 %;
setting ``stop`` ends the work at the next frame with ``PackagingStopped``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import av
from av.video.frame import PictureType

from .storage import PLAYLIST, SEGMENT_TEMPLATE

FALLBACK_RATE = 30


class PackagingError(RuntimeError):
    """FFmpeg could not package the file; the message says why."""


class PackagingStopped(Exception):
    """``stop`` was set: the partial output is the caller's to remove."""


def output_size(width: int, height: int, max_height: int) -> tuple[int, int]:
    """Scaled to at most ``max_height``, aspect kept, both even."""
    if height > max_height:
        width, height = round(width * max_height / height), max_height
    return max(2, width - width % 2), max(2, height - height % 2)


def package(
    source: Path,
    out_dir: Path,
    *,
    segment_seconds: float,
    max_height: int,
    duration: float | None,
    progress: Callable[[float], None],
    stop: threading.Event,
) -> None:
    """Write ``out_dir/index.m3u8`` and its ``seg_NNNNN.ts`` segments from ``source``."""
    options = {
        "hls_time": f"{segment_seconds:g}",
        "hls_playlist_type": "vod",
        "hls_flags": "independent_segments",
        "hls_segment_filename": str(out_dir / SEGMENT_TEMPLATE),
    }
    try:
        with (
            av.open(str(source), metadata_errors="ignore") as src,
            av.open(str(out_dir / PLAYLIST), "w", format="hls", options=options) as dst,
        ):
            video_in = src.streams.video[0]
            audio_in = src.streams.audio[0] if src.streams.audio else None
            rate = video_in.average_rate or FALLBACK_RATE
            width, height = output_size(video_in.width, video_in.height, max_height)
            video = dst.add_stream(
                "libx264",
                rate=rate,
                options={
                    "preset": "veryfast",
                    "crf": "23",
                    "g": str(max(1, round(float(rate) * segment_seconds))),
                    "sc_threshold": "0",
                },
            )
            video.width, video.height, video.pix_fmt = width, height, "yuv420p"
            time_base = video_in.time_base or Fraction(1, int(rate))
            video.codec_context.time_base = time_base
            audio = None
            if audio_in is not None:
                audio = dst.add_stream("aac", rate=48_000, layout="stereo")
            streams = [video_in] if audio_in is None else [video_in, audio_in]
            reported, next_key, last_pts = 0.0, 0.0, -1
            for packet in src.demux(*streams):
                if stop.is_set():
                    raise PackagingStopped
                for frame in packet.decode():
                    if isinstance(frame, av.AudioFrame):
                        if audio is not None:
                            dst.mux(audio.encode(frame))
                        continue
                    if not isinstance(frame, av.VideoFrame):
                        continue
                    pts = last_pts + 1 if frame.pts is None else frame.pts
                    if pts <= last_pts:
                        continue  # a duplicate timestamp: the muxer would refuse it
                    last_pts = pts
                    seconds = float(pts * time_base)
                    out = frame.reformat(width=width, height=height, format="yuv420p")
                    out.pts, out.time_base = pts, time_base
                    if seconds >= next_key:  # a segment may start here
                        out.pict_type = PictureType.I
                        next_key = seconds + segment_seconds
                    dst.mux(video.encode(out))
                    if duration:
                        done = min(0.99, seconds / duration)
                        if done - reported >= 0.01:
                            reported = done
                            progress(done)
            dst.mux(video.encode(None))
            if audio is not None:
                dst.mux(audio.encode(None))
    except av.FFmpegError as error:
        raise PackagingError(f"FFmpeg could not package it: {error.strerror or error}") from error
