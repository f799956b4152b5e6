"""Rate limits: token buckets by key, and counted slots for connection caps.

A token bucket holds up to ``capacity`` tokens and refills at ``capacity / per_seconds``
tokens a second; each message takes one. So a user may send a burst of ``capacity`` and
then one every ``per_seconds / capacity`` seconds: Twitch's "20 messages in 30 seconds",
without the cliff of a fixed window. A refused message learns when the next token comes
(``retry_after``). Both structures live in one process; several servers would keep them
in Redis (``INCR``/``EXPIRE``), like the broker.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Hashable


class TokenBucket:
    __slots__ = ("capacity", "rate", "stamp", "tokens")

    def __init__(self, capacity: int, per_seconds: float, now: float) -> None:
        self.capacity = capacity
        self.rate = capacity / per_seconds
        self.tokens = float(capacity)
        self.stamp = now

    def take(self, now: float) -> float:
        """Take a token: 0.0 when there was one, else the seconds until there is one."""
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.rate

    def full(self, now: float) -> bool:
        """Refilled completely: no different from a new bucket."""
        return self.tokens + (now - self.stamp) * self.rate >= self.capacity


class RateLimiter:
    """Token buckets by key, in bounded memory.

    A bucket that has refilled is the same as a new one, so past ``max_keys`` buckets the
    full ones are forgotten; if every one is still draining, the oldest go (their owners get
    a fresh bucket: memory stays bounded even under a flood of new keys).
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic, max_keys: int = 100_000):
        self.clock = clock
        self.max_keys = max_keys
        self._buckets: dict[Hashable, TokenBucket] = {}

    def take(self, key: Hashable, capacity: int, per_seconds: float) -> float:
        """0.0 when allowed now, else how many seconds until it would be."""
        now = self.clock()
        bucket = self._buckets.get(key)
        if bucket is None or bucket.capacity != capacity:  # new, or the role changed
            bucket = self._buckets[key] = TokenBucket(capacity, per_seconds, now)
            if len(self._buckets) > self.max_keys:
                self.prune(now)
        return bucket.take(now)

    def prune(self, now: float | None = None) -> None:
        now = self.clock() if now is None else now
        self._buckets = {k: b for k, b in self._buckets.items() if not b.full(now)}
        excess = len(self._buckets) - self.max_keys
        for key in list(self._buckets)[: max(0, excess)]:
            del self._buckets[key]

    def __len__(self) -> int:
        return len(self._buckets)


class Slots:
    """Counted slots per key (open connections per user, per address), capped."""

    def __init__(self) -> None:
        self._taken: Counter[str] = Counter()

    def acquire(self, key: str, limit: int) -> bool:
        """Take a slot unless ``limit`` (0: none) are taken already."""
        if limit and self._taken[key] >= limit:
            return False
        self._taken[key] += 1
        return True

    def release(self, key: str) -> None:
        self._taken[key] -= 1
        if self._taken[key] <= 0:
            del self._taken[key]

    def count(self, key: str) -> int:
        return self._taken.get(key, 0)
