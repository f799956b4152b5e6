"""Shared FastAPI dependencies: the app's services, reached through ``app.state``.

Keeping them on the app (not in module globals) lets several apps run in one process,
which is how tests and lessons start isolated servers side by side.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import HTTPConnection

from .broker import Broker
from .config import Settings
from .store import Store


def get_settings(connection: HTTPConnection) -> Settings:
    return connection.app.state.settings


def get_store(connection: HTTPConnection) -> Store:
    return connection.app.state.store


def get_broker(connection: HTTPConnection) -> Broker:
    return connection.app.state.broker


async def get_session(connection: HTTPConnection):  # type: ignore[no-untyped-def]
    async with connection.app.state.store.session() as session:
        yield session


SettingsDep = Annotated[Settings, Depends(get_settings)]
StoreDep = Annotated[Store, Depends(get_store)]
BrokerDep = Annotated[Broker, Depends(get_broker)]
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
"""Closed as soon as the route function returns, before the response body is sent: a live
feed that streams for an hour must not hold a pooled database connection for an hour."""
