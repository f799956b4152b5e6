"""Per-subscriber memory without HTTP: which layer of an open feed costs what.

An open feed's RSS mixes the HTTP stack with the feed itself. This phase runs in a process
of its own (so nothing else is allocated meanwhile) and measures with tracemalloc, layer by
layer: plain's queue, a bare broker subscription, the subscription turned into SSE bytes by
``event_stream`` and its task, and the same joined to presence. What is left of the RSS
figure is HTTP.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import tracemalloc
from collections.abc import AsyncIterator, Awaitable, Callable
from multiprocessing.connection import Connection
from typing import Any

from _procs import ServerProcess, send_safely
from sse_servers import payload

from streamverse.broker import Broker, Topic
from streamverse.live.presence import Presence
from streamverse.sse.stream import event_stream

TOPIC = Topic("bench")


def subscriber_breakdown(conn: Connection, count: int) -> None:
    """Child process: tracemalloc bytes per subscriber without HTTP, layer by layer."""
    try:
        send_safely(conn, ("ready", 0))
        send_safely(conn, ("result", asyncio.run(_breakdown(count))))
    except BaseException as error:
        send_safely(conn, ("error", f"{type(error).__name__}: {error}"))
        raise


async def _breakdown(count: int) -> dict[str, float]:
    """Bytes per subscriber of each layer: set ``count`` of them up, then tear them down."""

    async def per_subscriber(setup: Callable[[], Awaitable[list[Any]]]) -> float:
        gc.collect()
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        keep = await setup()
        gc.collect()
        used = tracemalloc.get_traced_memory()[0] - before
        tracemalloc.stop()
        await teardown(keep)
        return round(used / count, 1)

    async def teardown(keep: list[Any]) -> None:
        tasks = [item for item in keep if isinstance(item, asyncio.Task)]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for item in keep:
            if hasattr(item, "__aexit__"):
                await item.__aexit__(None, None, None)

    async def settle() -> None:
        for _ in range(5):
            await asyncio.sleep(0)

    async def drain(body: AsyncIterator[Any]) -> None:
        async for _ in body:
            pass

    async def plain_queue() -> list[Any]:
        queues: set[asyncio.Queue[Any]] = set()

        async def frames() -> AsyncIterator[str]:
            queue: asyncio.Queue[Any] = asyncio.Queue()
            queues.add(queue)
            try:
                while True:
                    yield str(await queue.get())
            finally:
                queues.discard(queue)

        keep: list[Any] = [asyncio.create_task(drain(frames())) for _ in range(count)]
        await settle()
        return [*keep, queues]

    broker = Broker("memory://", history_size=1000, queue_size=1000)
    await broker.connect()
    await broker.publish(TOPIC, "tick", payload(0))

    async def subscriptions_only() -> list[Any]:
        keep: list[Any] = []
        for _ in range(count):
            context = broker.subscribe(TOPIC)
            await context.__aenter__()
            keep.append(context)
        return keep

    async def snapshot() -> dict[str, int]:
        return {"viewers": 0}

    async def streams(presence: Presence | None) -> list[Any]:
        async def body(n: int) -> AsyncIterator[bytes]:
            with contextlib.ExitStack() as stack:
                if presence is not None:
                    stack.enter_context(presence.watching("bench", f"anonymous:{n:032x}"))
                async with broker.subscribe(TOPIC) as subscription:
                    body = event_stream(
                        subscription,
                        snapshot=snapshot,
                        initial=await snapshot(),
                        keepalive=15,
                        retry_ms=2000,
                    )
                    async for chunk in body:
                        yield chunk

        keep: list[Any] = [asyncio.create_task(drain(body(n))) for n in range(count)]
        await settle()
        return keep

    result = {
        "plain: asyncio.Queue + generator + task": await per_subscriber(plain_queue),
        "streamverse: broker subscription alone": await per_subscriber(subscriptions_only),
        "streamverse: subscription + event_stream + task": await per_subscriber(
            lambda: streams(None)
        ),
        "streamverse: the same + presence": await per_subscriber(lambda: streams(Presence())),
    }
    await broker.close()
    return result


async def measure_breakdown(count: int) -> dict[str, float]:
    """The breakdown for ``count`` subscribers, from a fresh child process."""
    child = ServerProcess(subscriber_breakdown, count)
    try:
        kind, value = await asyncio.to_thread(child.receive, 300)
        if kind != "result":
            raise RuntimeError(value)
        return value  # type: ignore[no-any-return]
    finally:
        child.stop()
