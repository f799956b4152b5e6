"""Bytes in, whole lines out, whatever the chunk boundaries: the log processor's one idea.

An upload arrives in chunks that have nothing to do with lines: a chunk may end in the
middle of a line, in the middle of a ``\\r\\n``, even in the middle of a UTF-8 character.
Splitting on ``b"\\n"`` *in bytes* and carrying the unfinished tail over to the next chunk
gets every line exactly once; in UTF-8 the byte ``0x0A`` is never part of another
character, so splitting bytes before decoding is safe, and a character cut by a chunk
boundary is whole again when its line is decoded.

Memory stays bounded by the chunk plus ``max_line_bytes``: a line longer than that is cut
(its first ``max_line_bytes`` kept, counted in ``truncated``), so even a file without a
single newline cannot make the tail grow. ``\\r\\n`` endings lose their ``\\r``; a last line
without a final newline comes out of ``finish()``. A lone ``\\r`` is not a line break.
"""

from __future__ import annotations


class LineSplitter:
    def __init__(self, max_line_bytes: int = 8192) -> None:
        if max_line_bytes < 1:
            raise ValueError("max_line_bytes must be at least 1")
        self.max_line_bytes = max_line_bytes
        self.truncated = 0
        """Lines longer than ``max_line_bytes`` so far (each cut to that length)."""
        self._tail = b""  # the unfinished line: at most max_line_bytes + 1 (room for \r)
        self._overflow = False  # the unfinished line is longer than that: the rest is dropped

    def feed(self, chunk: bytes) -> list[bytes]:
        """The lines that ``chunk`` completes, without their line endings."""
        parts = chunk.split(b"\n")
        rest = parts.pop()  # after the last newline: the start of an unfinished line
        if parts:
            first = self._end(self._tail + parts[0], self._overflow)
            self._tail, self._overflow = b"", False
            parts = parts[1:]
            if b"\r" in chunk:
                parts = [line[:-1] if line.endswith(b"\r") else line for line in parts]
            limit = self.max_line_bytes
            if len(chunk) > limit and max(map(len, parts), default=0) > limit:
                self.truncated += sum(len(line) > limit for line in parts)
                parts = [line[:limit] for line in parts]
            parts.insert(0, first)
        self._extend(rest)
        return parts

    def finish(self) -> list[bytes]:
        """The last line, if the data did not end with a newline (``[]`` if it did)."""
        if not self._tail and not self._overflow:
            return []
        line = self._end(self._tail, self._overflow)
        self._tail, self._overflow = b"", False
        return [line]

    def _end(self, line: bytes, overflowed: bool) -> bytes:
        """A finished line without its ``\r``, cut to the limit (and counted) if too long."""
        if not overflowed and line.endswith(b"\r"):
            line = line[:-1]
        if overflowed or len(line) > self.max_line_bytes:
            self.truncated += 1
            line = line[: self.max_line_bytes]
        return line

    def _extend(self, data: bytes) -> None:
        if self._overflow or not data:
            return
        room = self.max_line_bytes + 1 - len(self._tail)
        if len(data) > room:
            self._tail += data[:room]
            self._overflow = True
        else:
            self._tail += data
