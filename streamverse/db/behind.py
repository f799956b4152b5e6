"""Rows stored just after the event they record went out, many in one transaction.

A chat room publishes a message, then stores it. Stored one at a time, every message is a
transaction of its own (on SQLite through aiosqlite, five hops to the database thread),
and a room's next message waits for that commit. A ``WriteBehind`` queues the rows
instead, and one task inserts everything that queued up meanwhile in a single
transaction: the poster no longer waits for a commit, and a burst of a hundred messages
is a few commits, not a hundred.

The price, and how it is kept small:

- A reader of these rows calls ``flushed()`` first (then every row queued before the call
  is stored), or looks at ``pending()`` (what is queued or being written).
- ``Store.close`` flushes every queue: a restart keeps every row. A crash loses from the
  table the rows still queued or being written (their events were delivered live).
- The queue is bounded: past ``limit`` rows ``add`` waits for the store to catch up, so a
  slow database slows the writers down instead of growing memory.
- A row the database refuses (its user was deleted meanwhile) is logged and skipped, not
  allowed to fail the others of its batch.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql import Executable

logger = logging.getLogger("streamverse.db")

Row = dict[str, Any]

RETRIES = (0.05, 0.25, 1.0)
"""Seconds to wait before each new try of a batch the database could not take (locked)."""


class WriteBehind:
    """One statement's queue of rows and the single task that stores them in batches."""

    def __init__(self, engine: AsyncEngine, statement: Executable, limit: int = 1000) -> None:
        self.engine, self.statement, self.limit = engine, statement, limit
        self._queued: list[Row] = []
        self._writing: list[Row] = []
        self._added = self._done = 0  # rows added, rows written (or given up on)
        self._task: asyncio.Task[None] | None = None
        self._progress: asyncio.Event | None = None

    def pending(self) -> list[Row]:
        """Rows not in the table yet (being written, then queued), oldest first."""
        return self._writing + self._queued

    async def add(self, row: Row) -> None:
        """Queue ``row``; it is stored within the next write. Waits only when ``limit``
        rows are already waiting."""
        self._queued.append(row)
        self._added += 1
        self._start()
        if len(self._queued) >= self.limit:
            await self.flushed()

    async def flushed(self) -> None:
        """Until every row added before this call is in the table (or given up on)."""
        target = self._added
        while self._done < target:
            self._start()  # (again, if a cancelled loop took the last writer with it)
            if self._progress is None:
                self._progress = asyncio.Event()
            await self._progress.wait()

    def _start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(
                self._write_all(), name="streamverse-write-behind"
            )

    async def _write_all(self) -> None:
        try:
            while self._queued:
                self._writing, self._queued = self._queued, []
                try:
                    await self._store(self._writing)
                except asyncio.CancelledError:  # the loop is going away without a flush
                    lost, left = len(self._writing), len(self._queued)
                    logger.error("%d rows not stored (%d more queued): cancelled", lost, left)
                    raise
                finally:
                    self._done += len(self._writing)
                    self._writing = []
                    progress, self._progress = self._progress, None
                    if progress is not None:
                        progress.set()
        finally:
            self._task = None

    async def _store(self, rows: list[Row]) -> None:
        """The batch in one transaction; tried again while the database is busy, and row by
        row when it refuses the batch (so one bad row costs only itself)."""
        for delay in (*RETRIES, None):
            try:
                await self._insert(rows)
                return
            except OperationalError:  # locked, busy: the same batch may go through later
                if delay is None:
                    logger.exception("gave up storing %d rows", len(rows))
                    return
                await asyncio.sleep(delay)
            except Exception:
                break
        await self._one_by_one(rows)

    async def _one_by_one(self, rows: list[Row]) -> None:
        for row in rows:
            try:
                await self._insert([row])
            except Exception:
                logger.exception("a row was refused and skipped")

    async def _insert(self, rows: list[Row]) -> None:
        async with self.engine.begin() as connection:  # commits on the way out
            await connection.execute(self.statement, rows)
