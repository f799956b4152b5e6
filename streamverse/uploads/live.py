"""What this process knows about uploads in flight: their trackers, locks and hashes.

Kept per ``Services`` (weakly keyed, as ``videos.tasks`` does), so it lives exactly as
long as the app's services, the core knows nothing of uploads, and several apps in one
process (tests, lessons) keep theirs apart. Everything here can be lost (a restart):
the database row and the partial file are the truth, this only makes it fast.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field

from ..services import Services
from .locks import UploadLocks
from .progress import Tracker
from .sink import Hash


@dataclass(eq=False)
class LiveUploads:
    locks: UploadLocks = field(default_factory=UploadLocks)
    trackers: dict[str, Tracker] = field(default_factory=dict)
    """Uploads receiving or processing here; dropped at their final state."""
    digests: dict[str, tuple[int, Hash]] = field(default_factory=dict)
    """tus uploads: the SHA-256 so far and the offset it covers, so the file need not be
    read again at the end (when it does not match the offset, it is)."""


_registries: weakref.WeakKeyDictionary[Services, LiveUploads] = weakref.WeakKeyDictionary()


def live(services: Services) -> LiveUploads:
    registry = _registries.get(services)
    if registry is None:
        registry = _registries[services] = LiveUploads()
    return registry
