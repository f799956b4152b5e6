"""The app's services in one typed container, and the one dependency that reaches it.

``create_app`` makes one ``Services`` per app, so several apps run side by side in one
process (tests and lessons do). Routes take ``ServicesDep``; WebSocket handlers use the
same dependency; feeds get it from their middleware; a notebook cell or a test uses
``services_of(app)``. Domain operations (``streamverse/<domain>/service.py``) are plain
async functions of a ``Services`` and their arguments, callable from any of those.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends
from starlette.requests import HTTPConnection

from .broker import Broker
from .config import Settings
from .db.store import Store
from .live.activity import Activity
from .live.aggregator import Aggregator
from .live.locks import StripedLocks
from .live.presence import Presence


@dataclass(eq=False)
class Services:
    settings: Settings
    store: Store
    broker: Broker
    presence: Presence
    activity: Activity
    aggregator: Aggregator
    order_locks: StripedLocks

    @classmethod
    def create(cls, settings: Settings) -> Services:
        broker = Broker(
            settings.broker_url,
            history_size=settings.history_size,
            snapshot_history_size=settings.snapshot_history_size,
            queue_size=settings.subscriber_queue_size,
        )

        def watched() -> set[str]:
            """Streams with viewers, or with chat in the last minute (a decaying rate)."""
            return set(presence.watched_streams()) | activity.active_streams()

        aggregator = Aggregator(
            settings.analytics_interval_seconds, settings.snapshot_interval_seconds, watched
        )
        presence = Presence(on_change=aggregator.mark)
        activity = Activity(on_change=aggregator.mark)
        store = Store(settings.resolved_database_url())
        return cls(settings, store, broker, presence, activity, aggregator, StripedLocks())

    async def start(self) -> None:
        self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        await self.store.create_tables()
        await self.broker.connect()
        self.aggregator.start()

    async def begin_shutdown(self) -> None:
        """End every live response (their subscriptions close), so shutdown is prompt."""
        await self.broker.close()

    async def stop(self) -> None:
        try:
            await self.aggregator.stop()
            await self.broker.close()
        finally:
            await self.store.close()  # flushes the rows written behind, whatever failed


def services_of(app: Any) -> Services:
    """The services of an app made by ``create_app``."""
    services = app.state.services
    if not isinstance(services, Services):
        raise TypeError("not a StreamVerse app (made by create_app)")
    return services


def get_services(connection: HTTPConnection) -> Services:
    return services_of(connection.app)


ServicesDep = Annotated[Services, Depends(get_services)]
