"""Log jobs: create one (its id is known before any byte of the log), process a log as it
streams in, read a job, recover at startup.

``process`` reads the body chunk by chunk, splits it into lines (``lines.LineSplitter``)
and counts them (``counting.LogCounter``); nothing of the log is kept, so memory is the
same for a kilobyte and for a terabyte. Every ``logs_progress_lines`` lines it publishes a
``progress`` event with the numbers so far, and at the end a ``summary`` (or ``failed``).
The database row is written when the job is created, starts and ends; the numbers in
between live in this process (``_live``) and on the broker.
"""

from __future__ import annotations

import weakref
from collections.abc import AsyncIterable
from typing import Any, cast

from sqlalchemy import CursorResult, update

from ..broker import topics
from ..db.base import new_id, utcnow
from ..errors import Conflict, Forbidden, NotFound, ServiceError
from ..services import Services
from ..users.schemas import User
from .counting import LogCounter
from .lines import LineSplitter
from .models import LogJobRow
from .schemas import ErrorCount, LevelCounts, LogJob, LogJobState

FINAL = {LogJobState.done: "summary", LogJobState.failed: "failed"}
"""The event type that ends a job's progress feed, by final state."""

_live: weakref.WeakKeyDictionary[Services, dict[str, LogJob]] = weakref.WeakKeyDictionary()


class Interrupted(ServiceError):
    """The log stopped arriving before its end (the client went away)."""

    status = 400


def _to_job(row: LogJobRow) -> LogJob:
    return LogJob(
        id=row.id,
        owner_id=row.owner_id,
        state=LogJobState(row.state),
        lines=row.lines,
        bytes=row.bytes,
        levels=LevelCounts.model_validate(row.levels or {}),
        top_errors=[ErrorCount.model_validate(item) for item in row.top_errors or []],
        top_errors_exact=row.top_errors_exact,
        truncated_lines=row.truncated_lines,
        reason=row.reason,
        created_at=row.created_at,
        finished_at=row.finished_at,
        upload_url=f"/analytics/process-logs/?job_id={row.id}",
        progress_url=f"/analytics/log-jobs/{row.id}/progress",
    )


async def create_job(services: Services, owner: User) -> LogJob:
    """A job waiting for its log: follow ``progress_url`` now, then POST to ``upload_url``."""
    row = LogJobRow(
        id=new_id(), owner_id=owner.id, state=LogJobState.waiting.value, created_at=utcnow()
    )
    async with services.store.session() as session:
        session.add(row)
        await session.commit()
    return _to_job(row)


async def get_job(services: Services, job_id: str) -> LogJob:
    """The job's numbers now: live ones while this process is processing it."""
    live = _live.get(services, {}).get(job_id)
    if live is not None:
        return live
    async with services.store.session() as session:
        row = await session.get(LogJobRow, job_id[:64])
    if row is None:
        raise NotFound("log job", job_id[:64])
    return _to_job(row)


async def process(
    services: Services, job_id: str, owner: User, chunks: AsyncIterable[bytes]
) -> LogJob:
    """Count the log arriving as ``chunks``; the job's summary when it ends.

    ``NotFound``/``Forbidden`` for someone else's job, ``Conflict`` when it has already
    started. If ``chunks`` raises (the client went away) the job is ``failed`` with the
    reason and the error is raised again (``Interrupted`` stays as it is).
    """
    settings = services.settings
    job = await _start(services, job_id, owner)
    live = _live.setdefault(services, {})
    live[job_id] = job
    topic = topics.log_job(job_id)
    splitter = LineSplitter(settings.logs_max_line_bytes)
    counter = LogCounter(settings.logs_top_errors)
    every = settings.logs_progress_lines
    received, next_progress = 0, every
    try:
        await services.broker.publish(topic, "progress", job.model_dump(mode="json"))
        async for chunk in chunks:
            received += len(chunk)
            counter.add(splitter.feed(chunk))
            if counter.lines >= next_progress:
                next_progress = (counter.lines // every + 1) * every
                job = live[job_id] = _numbers(job, counter, splitter, received)
                await services.broker.publish(topic, "progress", job.model_dump(mode="json"))
        counter.add(splitter.finish())
        job = _numbers(job, counter, splitter, received)
        job.state = LogJobState.done
    except BaseException as error:
        job = _numbers(job, counter, splitter, received)
        job.state, job.reason = LogJobState.failed, _reason(error, received)
        await _finish(services, job)
        raise
    finally:
        live.pop(job_id, None)
    await _finish(services, job)
    return job


async def _start(services: Services, job_id: str, owner: User) -> LogJob:
    """Move the job from waiting to processing, once: the update is the check."""
    async with services.store.session() as session:
        row = await session.get(LogJobRow, job_id[:64])
        if row is None:
            raise NotFound("log job", job_id[:64])
        if row.owner_id != owner.id:
            raise Forbidden("this log job belongs to someone else")
        # An UPDATE answers a CursorResult (with rowcount); execute() is typed for SELECTs.
        moved = cast(
            CursorResult[Any],
            await session.execute(
                update(LogJobRow)
                .where(LogJobRow.id == job_id, LogJobRow.state == LogJobState.waiting.value)
                .values(state=LogJobState.processing.value)
            ),
        )
        await session.commit()
        if moved.rowcount != 1:
            raise Conflict(f"log job {job_id!r} has already received its log")
        await session.refresh(row)
        return _to_job(row)


def _numbers(job: LogJob, counter: LogCounter, splitter: LineSplitter, received: int) -> LogJob:
    """A copy of ``job`` with the counts so far."""
    return job.model_copy(
        update={
            "lines": counter.lines,
            "bytes": received,
            "levels": LevelCounts(**counter.levels),
            "top_errors": [ErrorCount(message=m, count=c) for m, c in counter.top()],
            "top_errors_exact": counter.messages.exact,
            "truncated_lines": splitter.truncated,
        }
    )


def _reason(error: BaseException, received: int) -> str:
    if isinstance(error, Interrupted):
        return f"{error.detail} after {received} bytes"
    return f"processing stopped after {received} bytes ({type(error).__name__})"


async def _finish(services: Services, job: LogJob) -> None:
    """Store the final numbers, then publish the final event (in that order: a feed that
    reads the row after subscribing either sees the end there or receives it)."""
    job.finished_at = utcnow()
    values = job.model_dump(mode="json", include={"lines", "bytes", "levels", "top_errors"})
    async with services.store.session() as session:
        await session.execute(
            update(LogJobRow)
            .where(LogJobRow.id == job.id)
            .values(
                **values,
                state=job.state.value,
                top_errors_exact=job.top_errors_exact,
                truncated_lines=job.truncated_lines,
                reason=job.reason,
                finished_at=job.finished_at,
            )
        )
        await session.commit()
    await services.broker.publish(
        topics.log_job(job.id), FINAL[job.state], job.model_dump(mode="json")
    )


async def recover(services: Services) -> None:
    """At startup: a job a crash left processing will never finish; say so."""
    async with services.store.session() as session:
        await session.execute(
            update(LogJobRow)
            .where(LogJobRow.state == LogJobState.processing.value)
            .values(
                state=LogJobState.failed.value, reason="the server restarted", finished_at=utcnow()
            )
        )
        await session.commit()
