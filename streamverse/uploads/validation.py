"""What a file is, by its first bytes; and a client's file name made safe to keep as text.

OWASP's file-upload cheat sheet: allow-list the formats, recognise them by content (magic
bytes), never by the client's ``Content-Type`` or extension (both are whatever the client
says), and never let the client's name near a path. ``sniff`` reads only the first
``SNIFF_BYTES`` bytes, so an upload is refused while it streams, not after; the videos
domain then probes the whole file (a matching header does not make a playable file).
"""

from __future__ import annotations

import re
import struct
import unicodedata

from ..videos.schemas import MediaKind

SNIFF_BYTES = 4096
"""How much of the start of a file ``sniff`` needs (two MP3 frames fit; so does an EBML
header or an ``ftyp`` box)."""

ALLOWED = "MP4/MOV, WebM/Matroska, MP3, Ogg (Opus or Vorbis), M4A, WAV"

_M4A_BRANDS = {b"M4A ", b"M4B ", b"M4P ", b"F4A "}
_MP4_BRANDS = {
    b"isom", b"iso2", b"iso3", b"iso4", b"iso5", b"iso6", b"iso8", b"iso9",
    b"mp41", b"mp42", b"avc1", b"dash", b"M4V ", b"M4VH", b"M4VP", b"mmp4", b"msnv",
    b"3gp4", b"3gp5", b"3gp6", b"3g2a", b"f4v ", b"av01",
}  # fmt: skip
_EBML_MAGIC = b"\x1a\x45\xdf\xa3"
_EBML_DOCTYPE = 0x4282
_MP3_BITRATES_V1 = (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320)
_MP3_BITRATES_V2 = (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160)
_MP3_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}


def sniff(head: bytes) -> MediaKind | None:
    """The allowed format ``head`` (a file's first bytes) starts like, or None."""
    if len(head) >= 12 and head[4:8] == b"ftyp":
        return _iso_media(head)
    if head.startswith(_EBML_MAGIC):
        return _matroska(head)
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return MediaKind.wav
    if head.startswith(b"OggS"):
        return _ogg(head)
    if head.startswith(b"ID3") and len(head) >= 10:
        version, flags_ok = head[3], all(byte < 0x80 for byte in head[6:10])
        return MediaKind.mp3 if 2 <= version <= 4 and flags_ok else None
    if _mp3_frames(head):
        return MediaKind.mp3
    return None


def _iso_media(head: bytes) -> MediaKind | None:
    """ISO base media (MP4, M4A) and QuickTime, told apart by the ``ftyp`` brands."""
    size = struct.unpack(">I", head[:4])[0]
    end = min(len(head), size) if size >= 16 else 16
    major = head[8:12]
    compatible = {head[i : i + 4] for i in range(16, end - 3, 4)}
    if major == b"qt  ":
        return MediaKind.mov
    if major in _M4A_BRANDS:
        return MediaKind.m4a
    if major in _MP4_BRANDS or compatible & _MP4_BRANDS:
        return MediaKind.mp4
    if b"qt  " in compatible:
        return MediaKind.mov
    return None


def _vint(data: bytes, at: int, keep_marker: bool) -> tuple[int, int] | None:
    """An EBML variable-length integer at ``at``: (value, next position), or None."""
    if at >= len(data) or data[at] == 0:
        return None
    first = data[at]
    length = 8 - first.bit_length() + 1
    if at + length > len(data):
        return None
    value = first if keep_marker else first & (0xFF >> length)
    for byte in data[at + 1 : at + length]:
        value = (value << 8) | byte
    return value, at + length


def _matroska(head: bytes) -> MediaKind | None:
    """WebM and Matroska share EBML; the header's DocType says which it is."""
    size = _vint(head, 4, keep_marker=False)
    if size is None:
        return None
    length, at = size
    end = min(len(head), at + length)
    while at < end:
        element = _vint(head, at, keep_marker=True)
        if element is None:
            return None
        element_id, at = element
        sized = _vint(head, at, keep_marker=False)
        if sized is None:
            return None
        element_size, at = sized
        if element_id == _EBML_DOCTYPE:
            doctype = head[at : at + element_size].rstrip(b"\0")
            return {b"webm": MediaKind.webm, b"matroska": MediaKind.mkv}.get(doctype)
        at += element_size
    return None


def _ogg(head: bytes) -> MediaKind | None:
    """An Ogg page whose first packet is an Opus or a Vorbis header."""
    if len(head) < 28 or head[4] != 0:
        return None
    start = 27 + head[26]
    packet = head[start : start + 8]
    if packet.startswith(b"OpusHead") or packet.startswith(b"\x01vorbis"):
        return MediaKind.ogg
    return None


def _mp3_frame_length(header: bytes) -> int | None:
    """Bytes of the MPEG audio Layer III frame whose 4-byte header this is, or None."""
    if len(header) < 4 or header[0] != 0xFF or header[1] & 0xE0 != 0xE0:
        return None
    version = (header[1] >> 3) & 0b11  # 3: MPEG-1, 2: MPEG-2, 0: MPEG-2.5, 1: reserved
    layer = (header[1] >> 1) & 0b11  # 1: Layer III
    bitrate_index, rate_index = header[2] >> 4, (header[2] >> 2) & 0b11
    if version == 1 or layer != 1 or bitrate_index in (0, 15) or rate_index == 3:
        return None
    bitrates = _MP3_BITRATES_V1 if version == 3 else _MP3_BITRATES_V2
    rate = _MP3_RATES[version][rate_index]
    padding = (header[2] >> 1) & 1
    per_frame = 144 if version == 3 else 72
    return per_frame * bitrates[bitrate_index] * 1000 // rate + padding


def _mp3_frames(head: bytes) -> bool:
    """A Layer III frame header at the start, and (when it fits) another right after it."""
    length = _mp3_frame_length(head[:4])
    if length is None:
        return False
    if len(head) >= length + 4:
        return _mp3_frame_length(head[length : length + 4]) is not None
    return len(head) < SNIFF_BYTES  # a file shorter than the window: one frame will do


_UNSAFE = re.compile(r"[\x00-\x1f\x7f]+")
_SPACES = re.compile(r"\s+")
MAX_NAME = 200


def sanitize_filename(raw: str | None, default: str = "upload") -> str:
    """The client's file name as harmless text: metadata only, never part of a path.

    The last component after ``/`` or ``\\`` (so ``../../etc/passwd`` is ``passwd``),
    control characters and NUL removed, Unicode normalised (NFC), no leading dots, at most
    ``MAX_NAME`` characters; ``default`` when nothing is left.
    """
    if not raw:
        return default
    name = re.split(r"[/\\]", raw)[-1]
    name = unicodedata.normalize("NFC", _UNSAFE.sub("", name))
    name = _SPACES.sub(" ", name).strip().lstrip(".").strip()
    return name[:MAX_NAME] or default


def title_from(filename: str) -> str:
    """A title for an upload sent without one: the file name without its extension."""
    stem, dot, _ = filename.rpartition(".")
    return (stem if dot and stem else filename)[:200]
