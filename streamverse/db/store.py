"""Persistence: one async engine and a session factory, tables created on startup."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.sql import Executable

from .base import Base
from .behind import WriteBehind


class Store:
    """Owns the database engine. SQLite by default; any SQLAlchemy async URL works."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = create_async_engine(url)
        if make_url(url).get_backend_name() == "sqlite":
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
        self._sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        self._behind: dict[str, WriteBehind] = {}

    async def create_tables(self) -> None:
        """Create every table the imported domains declared (a no-op for existing ones)."""
        async with self.engine.begin() as connection:
            await connection.run_sync(Base.metadata.create_all)

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        async with self._sessions() as session:
            yield session

    def write_behind(self, name: str, statement: Executable) -> WriteBehind:
        """The queue named ``name`` that stores rows with ``statement`` in batches (see
        ``behind``), made on first use; ``close`` flushes it."""
        queue = self._behind.get(name)
        if queue is None:
            queue = self._behind[name] = WriteBehind(self.engine, statement)
        return queue

    async def close(self) -> None:
        for queue in self._behind.values():
            await queue.flushed()
        await self.engine.dispose()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """WAL lets readers continue while a writer commits; foreign keys are off by default."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
