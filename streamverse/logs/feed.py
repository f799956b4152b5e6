"""A log job's progress as Server-Sent Events, resumable with ``Last-Event-ID``.

An ordinary route rather than a ``sse.feeds.Feed``: a job has one or two readers, not ten
thousand, and its feed must end with the job's *summary* whatever the moment a client
connects, which the generic feed's end marker does not carry. The order is the usual one:
subscribe first, then read the job, so nothing published in between is lost.

* A fresh client (no id) gets the job's numbers now as ``progress`` (with the topic's id, to
  resume from), then each event; a finished job's feed is its ``summary`` (or ``failed``).
* A resuming client gets exactly the events after its id; if the job has finished and it
  missed nothing, the final event again (so it learns the job is over); if history cannot
  bridge the gap, ``reset`` with the numbers now (the final event if the job is over).
* Each ``progress`` carries the full numbers so far, so a missed one costs nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from ..broker import RESET, SubscriberDropped, topics
from ..services import Services
from ..sse.encoder import KEEPALIVE, encode, frame, to_json
from . import service
from .schemas import LogJob

FINAL_TYPES = frozenset(service.FINAL.values())


def _final(job: LogJob, id: int | None) -> bytes | None:
    kind = service.FINAL.get(job.state)
    return None if kind is None else encode(to_json(job), event=kind, id=id)


async def progress_events(
    services: Services, job_id: str, since: int | None
) -> AsyncIterator[bytes]:
    settings = services.settings
    async with services.broker.subscribe(topics.log_job(job_id), since) as subscription:
        job = await service.get_job(services, job_id)
        first = f"retry: {settings.sse_retry_ms}\n".encode()
        final = _final(job, subscription.last_id)
        if final is not None and (since is None or subscription.pending() == 0):
            yield first + final
            return
        if since is None:
            yield first + encode(to_json(job), event="progress", id=subscription.last_id)
            first = b""
        try:
            async for batch in subscription.batches(idle_after=settings.sse_keepalive_seconds):
                chunk = bytearray(first)
                first = b""
                if batch is None:
                    yield bytes(chunk + KEEPALIVE)
                    continue
                for event in batch:
                    if event.type == RESET:
                        job = await service.get_job(services, job_id)
                        final = _final(job, event.id)
                        if final is not None:
                            yield bytes(chunk + final)
                            return
                        chunk += encode(to_json(job), event=RESET, id=event.id)
                        continue
                    chunk += frame(event)
                    if event.type in FINAL_TYPES:
                        yield bytes(chunk)
                        return
                yield bytes(chunk)
        except SubscriberDropped as dropped:
            yield encode(
                to_json({"reason": dropped.reason, "last_id": dropped.last_id}), event="dropped"
            )
