"""One request at a time per upload: a lock per upload id, and a way to ask for it.

Two PATCHes to one tus upload must never interleave their bytes, and a HEAD must not
report an offset a PATCH is about to move. So every tus request holds its upload's lock.
A request that finds the lock held asks the holder to stop (``release``: the holder's
watchdog ends its body read, it saves what it received and lets go), then waits up to
``wait`` seconds for it. That is what tusd does, for the common case behind it: a client
resuming after its old connection died without the server noticing. A second PATCH then
gets the lock, sees that the offset has moved, and answers 409, so nothing interleaves.
Locks exist only while someone holds or waits for them: memory is bounded by requests.

This implementation holds within one process. Several servers behind a load balancer
(``STREAMVERSE_BROKER_URL=redis://...``) would hold it in Redis instead, with the same
three operations: take it with ``SET lock:upload:<id> <random token> NX PX 30000``;
while reading, extend it every 10 s with a script that runs ``PEXPIRE`` only if the value
is still our token (so a holder that stalled past its expiry cannot extend someone else's
lock); let go with a script that runs ``DEL`` only if the value is our token. A waiter
publishes a release request on ``upload:<id>:lock`` (the holder's server is subscribed
while it holds a lock) and retries ``SET NX`` on a short back-off until ``wait`` runs out.
The expiry is what frees the lock of a server that crashed while holding it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from .errors import Locked


@dataclass
class _Entry:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    users: int = 0
    release: Callable[[str], None] | None = None


class UploadLocks:
    def __init__(self) -> None:
        self._entries: dict[str, _Entry] = {}

    @asynccontextmanager
    async def hold(
        self,
        upload_id: str,
        *,
        wait: float,
        release: Callable[[str], None] | None = None,
        ask: bool = True,
    ) -> AsyncIterator[None]:
        """Hold ``upload_id``'s lock. ``release(reason)`` is how a later request asks us to
        stop; with ``ask`` we ask the current holder the same. ``Locked`` after ``wait`` s."""
        entry = self._entries.get(upload_id)
        if entry is None:
            entry = self._entries[upload_id] = _Entry()
        entry.users += 1
        try:
            if entry.lock.locked() and ask and entry.release is not None:
                entry.release("a newer request for this upload arrived")
            try:
                await asyncio.wait_for(entry.lock.acquire(), wait)
            except TimeoutError:
                raise Locked(
                    f"another request is using this upload (waited {wait:g} s); retry"
                ) from None
            try:
                entry.release = release
                yield
            finally:
                entry.release = None
                entry.lock.release()
        finally:
            entry.users -= 1
            if entry.users == 0 and self._entries.get(upload_id) is entry:
                del self._entries[upload_id]

    def held(self, upload_id: str) -> bool:
        entry = self._entries.get(upload_id)
        return entry is not None and entry.lock.locked()

    def __len__(self) -> int:
        return len(self._entries)
