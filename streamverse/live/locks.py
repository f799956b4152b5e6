"""Ordering locks: commit-then-publish under a per-key lock, in bounded memory."""

from __future__ import annotations

import asyncio
import zlib


class StripedLocks:
    """One of a fixed set of locks, chosen by key: memory stays bounded however many keys
    there are, and two keys rarely share a lock.

    Comments (and chat) are committed and published under their stream's lock, so they
    reach subscribers in id order and a client resuming with ``since=<last id it got>``
    cannot skip an earlier one. (Within one process; several servers need the database
    to order them.)
    """

    def __init__(self, stripes: int = 64) -> None:
        self._locks = [asyncio.Lock() for _ in range(stripes)]

    def __call__(self, key: str) -> asyncio.Lock:
        return self._locks[zlib.crc32(key.encode()) % len(self._locks)]
