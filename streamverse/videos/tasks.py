"""The HLS packaging tasks of one ``Services``: started by ``add_media`` and by startup
recovery, at most ``media_packaging_concurrency`` at a time, cancelled on shutdown.

The registry lives here, in the domain that owns the work, keyed weakly by the
``Services`` it belongs to: it lives exactly as long as those services, the core knows
nothing of videos, and several apps in one process (tests, lessons) keep theirs apart. The
videos router's lifespan (merged into the app's by FastAPI, inside it, so it ends before
the store closes) calls ``close``; a notebook using ``create_services`` calls
``service.shutdown``. A task cancelled at shutdown leaves its row ``processing``, which the
next startup packages again.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Callable, Coroutine
from typing import Any

from ..services import Services

log = logging.getLogger(__name__)


class Packaging:
    def __init__(self, concurrency: int) -> None:
        self.slots = asyncio.Semaphore(concurrency)
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self.closed = False

    def start(self, media_id: str, work: Callable[[], Coroutine[Any, Any, None]]) -> bool:
        """Run ``work()`` for ``media_id`` unless one runs already or we are closed."""
        if self.closed or media_id in self._tasks:
            return False
        task = asyncio.get_running_loop().create_task(work(), name=f"hls {media_id}")
        self._tasks[media_id] = task
        task.add_done_callback(lambda done: self._finished(media_id, done))
        return True

    def _finished(self, media_id: str, task: asyncio.Task[None]) -> None:
        self._tasks.pop(media_id, None)
        if not task.cancelled() and task.exception() is not None:
            log.error("HLS packaging of %s crashed", media_id, exc_info=task.exception())

    def running(self) -> set[str]:
        return set(self._tasks)

    async def wait(self, media_id: str) -> None:
        """Until the packaging of ``media_id`` (if any) has ended (for tests and lessons)."""
        task = self._tasks.get(media_id)
        if task is not None:
            await asyncio.wait({task})

    async def close(self) -> None:
        """Refuse new work, cancel what runs and wait for it to end."""
        self.closed = True
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)


_registries: weakref.WeakKeyDictionary[Services, Packaging] = weakref.WeakKeyDictionary()


def packaging_of(services: Services) -> Packaging:
    registry = _registries.get(services)
    if registry is None:
        registry = fresh_packaging(services)
    return registry


def fresh_packaging(services: Services) -> Packaging:
    """A new registry for ``services`` (at startup: a closed one stays closed otherwise)."""
    registry = _registries[services] = Packaging(services.settings.media_packaging_concurrency)
    return registry
