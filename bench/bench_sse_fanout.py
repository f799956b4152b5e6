"""SSE fan-out: deliveries per second, memory per subscriber and shutdown time.

Four servers, each a small FastAPI app on real uvicorn (httptools, asyncio loop, as
``streamverse serve`` runs) in its own process pinned to one core, driven by raw asyncio TCP
clients in this process on the other core:

* ``plain``: a per-connection ``asyncio.Queue``; ``StreamingResponse`` yields
  ``id/event/data`` text per event (the payload is serialised once per event).
* ``fastapi.sse``: the same queue loop, the path function yields ``ServerSentEvent(data=...)``
  under ``response_class=EventSourceResponse``.
* ``streamverse``: the real ``create_app()`` and its endpoint
  ``/streams/{id}/analytics/live`` (served by ``streamverse.feeds`` in front of FastAPI:
  broker subscription, ids, history, keep-alive timer, snapshot), fed by ``broker.publish``
  on the stream's analytics topic.
* ``streamverse+presence``: the same feed wrapped in ``Presence.watching`` (what an SSE
  feed that counts its viewers costs; the analytics endpoint itself does not count them).

See bench/README.md for what each figure means. Run: ``python bench/bench_sse_fanout.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import re
import signal
import sys
import tempfile
import time
import tracemalloc
import uuid
from collections.abc import AsyncIterator, Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, ClassVar

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    ServerProcess,
    SSEPool,
    cpu_plan,
    cpu_seconds,
    http_json,
    new_event_loop,
    pin,
    raise_nofile,
    rss_kib,
    send_safely,
)
from fastapi import FastAPI
from fastapi.responses import StreamingResponse
from fastapi.sse import EventSourceResponse, ServerSentEvent

from streamverse import analytics, sse
from streamverse.app import create_app
from streamverse.config import Settings
from streamverse.feeds import FeedResponse
from streamverse.streams import topic

VARIANTS = ("plain", "fastapi.sse", "streamverse", "streamverse+presence")
RESULTS = Path(__file__).resolve().parent / "results" / "sse_fanout.json"
GRACEFUL_TIMEOUT = 5.0
"""uvicorn's ``timeout_graceful_shutdown`` for every server (``streamverse serve`` uses 5 s)."""


def payload(n: int) -> dict[str, Any]:
    """One event's data: about the size of a live analytics update (~120 bytes of JSON)."""
    return {
        "seq": n,
        "stream_id": "bench",
        "status": "live",
        "viewers": 1000 + n % 7,
        "peak_viewers": 1200,
        "likes": 42 + n,
        "comments_per_minute": 12.5,
    }


# == server side (runs in the spawned server process) ==========================================


class Publisher:
    """Runs one publishing burst at a time and remembers how long the last one took."""

    def __init__(self) -> None:
        self.task: asyncio.Task[None] | None = None
        self.seconds: float | None = None

    def start(self, burst: Callable[[], Any]) -> None:
        async def timed() -> None:
            started = time.perf_counter()
            await burst()
            self.seconds = time.perf_counter() - started

        self.seconds = None
        self.task = asyncio.get_running_loop().create_task(timed())

    @property
    def busy(self) -> bool:
        return self.task is not None and not self.task.done()


class GCClock:
    """Time the server spends in the cyclic garbage collector, per generation (gc.callbacks)."""

    seconds: ClassVar[list[float]] = [0.0, 0.0, 0.0]
    collections: ClassVar[list[int]] = [0, 0, 0]
    _started = 0.0

    @classmethod
    def install(cls) -> None:
        gc.callbacks.append(cls._callback)

    @classmethod
    def _callback(cls, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            cls._started = time.perf_counter()
        else:
            generation = info["generation"]
            cls.seconds[generation] += time.perf_counter() - cls._started
            cls.collections[generation] += 1

    @classmethod
    def report(cls) -> dict[str, Any]:
        return {"seconds": list(cls.seconds), "collections": list(cls.collections)}


def _event_type(n: int, events: int) -> str:
    return "end" if n == events else "tick"


def queue_app(variant: str) -> Any:
    """The ``plain`` and ``fastapi.sse`` servers: one ``asyncio.Queue`` per connection."""
    app = FastAPI()
    queues: set[asyncio.Queue[tuple[int, str, dict[str, Any], str]]] = set()
    publisher = Publisher()

    async def burst(events: int, yield_every: int) -> None:
        for n in range(1, events + 1):
            data = payload(n)
            item = (n, _event_type(n, events), data, json.dumps(data, separators=(",", ":")))
            for queue in queues:
                queue.put_nowait(item)
            if n % yield_every == 0:
                await asyncio.sleep(0)

    if variant == "plain":

        async def frames() -> AsyncIterator[str]:
            queue: asyncio.Queue[tuple[int, str, dict[str, Any], str]] = asyncio.Queue()
            queues.add(queue)
            try:
                while True:
                    n, event, _, text = await queue.get()
                    yield f"id: {n}\nevent: {event}\ndata: {text}\n\n"
            finally:
                queues.discard(queue)

        @app.get("/live")
        async def live_plain() -> StreamingResponse:
            return StreamingResponse(
                frames(),
                media_type="text/event-stream",
                headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
            )

    else:

        @app.get("/live", response_class=EventSourceResponse)
        async def live_fastapi() -> AsyncIterator[ServerSentEvent]:
            queue: asyncio.Queue[tuple[int, str, dict[str, Any], str]] = asyncio.Queue()
            queues.add(queue)
            try:
                while True:
                    n, event, data, _ = await queue.get()
                    yield ServerSentEvent(data=data, event=event, id=str(n))
            finally:
                queues.discard(queue)

    @app.get("/bench/status")
    async def status() -> dict[str, Any]:
        return {
            "subscribers": len(queues),
            "publishing": publisher.busy,
            "publish_seconds": publisher.seconds,
            "gc": GCClock.report(),
        }

    @app.post("/bench/publish")
    async def publish(events: int, yield_every: int = 1) -> dict[str, bool]:
        publisher.start(lambda: burst(events, yield_every))
        return {"started": True}

    _add_trace_routes(app)
    return app


def streamverse_app(data_dir: str) -> Any:
    """The real platform app plus a publisher, a status route and a presence-counting feed."""
    app = create_app(Settings(data_dir=Path(data_dir)))
    publisher = Publisher()

    async def burst(stream_id: str, events: int, yield_every: int) -> None:
        broker, name = app.state.broker, topic(stream_id, "analytics")
        for n in range(1, events + 1):
            await broker.publish(name, _event_type(n, events), payload(n))
            if n % yield_every == 0:
                await asyncio.sleep(0)

    @app.get("/bench/status")
    async def status(stream_id: str) -> dict[str, Any]:
        return {
            "subscribers": app.state.broker.subscriber_count(topic(stream_id, "analytics")),
            "viewers": app.state.presence.viewers(stream_id),
            "publishing": publisher.busy,
            "publish_seconds": publisher.seconds,
            "gc": GCClock.report(),
        }

    @app.post("/bench/publish")
    async def publish(stream_id: str, events: int, yield_every: int = 1) -> dict[str, bool]:
        publisher.start(lambda: burst(stream_id, events, yield_every))
        return {"started": True}

    _add_trace_routes(app)
    return WatchedFeeds(app)


class WatchedFeeds:
    """``/bench/watched/{id}/analytics/live``: the platform's analytics feed, in front of the
    app like the real one, joined to presence for as long as it is open."""

    PATH = re.compile(r"/bench/watched/(?P<key>[^/]+)/analytics/live")

    def __init__(self, app: Any) -> None:
        self.app = app
        self.state = app.state  # streamverse.server.Server finds begin_shutdown here

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        found = self.PATH.fullmatch(scope["path"]) if scope["type"] == "http" else None
        if found is None:
            await self.app(scope, receive, send)
            return
        stream_id, viewer = found["key"], f"anonymous:{uuid.uuid4().hex}"
        with self.state.presence.watching(stream_id, viewer):
            await FeedResponse(analytics.FEED, stream_id, self.state)(scope, receive, send)


def _add_trace_routes(app: Any) -> None:
    """``/bench/trace/mark`` and ``/bench/trace/diff``: tracemalloc growth since the mark."""
    marks: list[tracemalloc.Snapshot] = []

    def snapshot() -> tracemalloc.Snapshot:
        gc.collect()
        return tracemalloc.take_snapshot().filter_traces(
            [tracemalloc.Filter(False, tracemalloc.__file__)]
        )

    @app.get("/bench/gc/objects")
    async def objects() -> dict[str, int]:
        """Objects the cyclic collector tracks (what a full collection has to walk)."""
        gc.collect()
        return {"tracked": len(gc.get_objects())}

    @app.post("/bench/gc/freeze")
    async def freeze() -> dict[str, int]:
        """Experiment knob (``--gc-freeze``): move every live object out of the collector's way."""
        gc.collect()
        gc.freeze()
        return {"frozen": gc.get_freeze_count()}

    @app.post("/bench/trace/mark")
    async def mark() -> dict[str, bool]:
        if not tracemalloc.is_tracing():
            return {"tracing": False}
        marks[:] = [snapshot()]
        return {"tracing": True}

    @app.get("/bench/trace/diff")
    async def diff(top: int = 12) -> dict[str, Any]:
        if not tracemalloc.is_tracing() or not marks:
            return {"tracing": False}
        now = snapshot()
        result: dict[str, Any] = {"tracing": True}
        for key in ("filename", "lineno"):
            stats = now.compare_to(marks[0], key)
            result["total" if key == "filename" else "_"] = sum(s.size_diff for s in stats)
            result[key] = [
                {
                    "where": _short(str(stat.traceback), key),
                    "bytes": stat.size_diff,
                    "blocks": stat.count_diff,
                }
                for stat in sorted(stats, key=lambda s: -s.size_diff)[:top]
            ]
        result.pop("_", None)
        return result


def _short(where: str, key: str) -> str:
    """A traceback line without the install prefix (and without ``:0`` when grouped by file)."""
    for pattern in (r"^.*site-packages/", r"^.*/lib/python3\.\d+/", r"^.*/(?=streamverse/)"):
        where, found = re.subn(pattern, "", where)
        if found:
            break
    return where.removesuffix(":0") if key == "filename" else where


def serve(conn: Connection, variant: str, options: dict[str, Any]) -> None:
    """Server process: build the variant's app and serve it until SIGTERM."""
    if options.get("tracemalloc"):
        tracemalloc.start()
    try:
        import uvicorn

        from streamverse.server import Server, bind_socket

        raise_nofile()
        pin(options.get("cpu"))
        GCClock.install()
        if options.get("gc_threshold"):
            gc.set_threshold(*options["gc_threshold"])
        if variant.startswith("streamverse"):
            app = streamverse_app(options["data_dir"])
        else:
            app = queue_app(variant)
        base: type[uvicorn.Server] = Server if options.get("hook", True) else uvicorn.Server
        sock = bind_socket("127.0.0.1", 0)
        port = sock.getsockname()[1]

        class BenchServer(base):  # type: ignore[valid-type, misc]
            async def startup(self, sockets: Any = None) -> None:
                await super().startup(sockets=sockets)
                send_safely(conn, ("ready", port))

        config = uvicorn.Config(
            app,
            loop="uvloop" if options.get("uvloop") else "asyncio",
            log_level=options.get("log_level", "warning"),
            access_log=False,
            timeout_graceful_shutdown=options.get("graceful", GRACEFUL_TIMEOUT),
            backlog=4096,
        )
        BenchServer(config).run(sockets=[sock])
    except BaseException as error:
        send_safely(conn, ("error", f"{type(error).__name__}: {error}"))
        raise


# == client side (this process) ================================================================


class Target:
    """One running server variant: how to reach its feed and control routes, and its clients."""

    def __init__(self, variant: str, server: ServerProcess) -> None:
        self.variant = variant
        self.server = server
        self.port = server.port
        self.query = ""
        self.path = "/live"
        self.initial_frames = 0
        self.pool: SSEPool | None = None
        self.memory: dict[str, Any] = {}
        self.runs: list[dict[str, Any]] = []
        self.gc_freeze = False

    async def prepare(self) -> None:
        """The streamverse variants need a user and a stream, made through the public API."""
        if not self.variant.startswith("streamverse"):
            return
        code, user = await http_json(self.port, "POST", "/users", {"name": "bench"})
        assert code == 201, (code, user)
        auth = {"Authorization": f"Bearer {user['token']}"}
        code, stream = await http_json(
            self.port, "POST", "/streams/create", {"title": "Bench", "category": "bench"}, auth
        )
        assert code == 201, (code, stream)
        stream_id = stream["id"]
        self.query = f"stream_id={stream_id}"
        if self.variant == "streamverse":
            self.path = f"/streams/{stream_id}/analytics/live"
        else:
            self.path = f"/bench/watched/{stream_id}/analytics/live"
        self.initial_frames = 1  # the snapshot

    async def status(self) -> dict[str, Any]:
        code, body = await http_json(self.port, "GET", f"/bench/status?{self.query}")
        assert code == 200, (code, body)
        return body  # type: ignore[no-any-return]

    async def wait_subscribers(self, count: int, within: float = 120.0) -> None:
        deadline = time.monotonic() + within
        while (now := (await self.status())["subscribers"]) != count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.variant}: {now} subscribers, expected {count}")
            await asyncio.sleep(0.05)

    async def wait_idle(self, within: float = 120.0) -> None:
        deadline = time.monotonic() + within
        while (await self.status())["publishing"] and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.05)

    async def open(self, count: int) -> SSEPool:
        pool = SSEPool(self.port, self.path, self.initial_frames)
        try:
            await pool.open(count)
            await self.wait_subscribers(count)
        except BaseException:
            await pool.close()
            raise
        return pool

    async def open_measured(self, count: int, warmup: int, yield_every: int) -> None:
        """Warm up, then open ``count`` feeds and note the server's RSS before and after."""
        warm = await self.open(min(warmup, count))  # every code path runs once
        await self.deliver(warm, 5, yield_every)
        await warm.close()
        await self.wait_subscribers(0)
        await asyncio.sleep(0.3)
        tracked = (await http_json(self.port, "GET", "/bench/gc/objects"))[1]["tracked"]
        before = rss_kib(self.server.pid)
        started = time.monotonic()
        self.pool = await self.open(count)
        seconds = time.monotonic() - started
        await asyncio.sleep(0.5)
        opened = rss_kib(self.server.pid)
        tracked = (await http_json(self.port, "GET", "/bench/gc/objects"))[1]["tracked"] - tracked
        self.memory = {
            "connect_seconds": round(seconds, 2),
            "rss_before_kib": before,
            "rss_open_kib": opened,
            "kib_per_connection": round((opened - before) / count, 2),
            "gc_objects_per_connection": round(tracked / count, 1),
        }
        if self.gc_freeze:
            await http_json(self.port, "POST", "/bench/gc/freeze")

    def note_rss_after(self) -> None:
        after = rss_kib(self.server.pid)
        count = len(self.pool.connections) if self.pool else 1
        self.memory["rss_after_kib"] = after
        self.memory["kib_per_connection_after"] = round(
            (after - self.memory["rss_before_kib"]) / count, 2
        )

    async def deliver(self, pool: SSEPool, events: int, yield_every: int) -> dict[str, Any]:
        """Publish ``events`` at full speed; time until every client has the last one."""
        subscribers = len(pool.connections)
        frames_before = pool.frames()
        pool.watch_for_end()
        gc_before = (await self.status())["gc"]
        server_cpu, client_cpu = cpu_seconds(self.server.pid), time.process_time()
        started = time.monotonic()
        code, body = await http_json(
            self.port,
            "POST",
            f"/bench/publish?events={events}&yield_every={yield_every}&{self.query}",
        )
        assert code == 200, (code, body)
        complete = await pool.wait_finished(max(60.0, subscribers * events / 2000))
        finished = [c.ended_at for c in pool.connections if c.ended_at is not None]
        seconds = (max(finished) if finished else time.monotonic()) - started
        server_cpu = cpu_seconds(self.server.pid) - server_cpu
        client_cpu = time.process_time() - client_cpu
        await self.wait_idle()
        status = await self.status()
        got_end = sum(1 for c in pool.connections if c.outcome == "end")
        deliveries = got_end * events
        return {
            "events": events,
            "seconds": round(seconds, 3),
            "deliveries_per_s": round(deliveries / seconds) if seconds > 0 else 0,
            "server_cpu_us_per_delivery": round(server_cpu / deliveries * 1e6, 2)
            if deliveries
            else None,
            "complete": complete and got_end == subscribers,
            "dropped": sum(1 for c in pool.connections if c.outcome == "dropped"),
            "closed_early": sum(1 for c in pool.connections if c.outcome == "closed"),
            "frames_received": pool.frames() - frames_before,
            "frames_expected": subscribers * events,
            "publish_seconds": status["publish_seconds"],
            "server_cpu_seconds": round(server_cpu, 3),
            "gc_seconds": round(sum(status["gc"]["seconds"]) - sum(gc_before["seconds"]), 3),
            "gc_full_collections": status["gc"]["collections"][2] - gc_before["collections"][2],
            "gc_seconds_by_generation": [
                round(after - before, 3)
                for after, before in zip(status["gc"]["seconds"], gc_before["seconds"], strict=True)
            ],
            "gc_collections_by_generation": [
                after - before
                for after, before in zip(
                    status["gc"]["collections"], gc_before["collections"], strict=True
                )
            ],
            "server_cpu_share": round(server_cpu / seconds, 2) if seconds > 0 else None,
            "client_cpu_share": round(client_cpu / seconds, 2) if seconds > 0 else None,
        }

    def summary(self, subscribers: int) -> dict[str, Any]:
        runs = self.runs
        rates = sorted(run["deliveries_per_s"] for run in runs)
        costs = sorted(c for run in runs if (c := run["server_cpu_us_per_delivery"]) is not None)
        return {
            "variant": self.variant,
            "path": self.path,
            "subscribers": subscribers,
            "events": runs[0]["events"] if runs else 0,
            "rounds": len(runs),
            "best_deliveries_per_s": rates[-1] if rates else 0,
            "median_deliveries_per_s": rates[len(rates) // 2] if rates else 0,
            "median_server_cpu_us_per_delivery": costs[len(costs) // 2] if costs else None,
            "complete": all(run["complete"] for run in runs),
            **self.memory,
            "runs": runs,
        }


def server_options(args: argparse.Namespace, data_dir: str, **overrides: Any) -> dict[str, Any]:
    options = {
        "cpu": args.cpus[0],
        "uvloop": args.uvloop,
        "data_dir": tempfile.mkdtemp(dir=data_dir),  # a fresh SQLite file per server
        "hook": True,
        "graceful": GRACEFUL_TIMEOUT,
        "gc_threshold": args.gc_threshold,
    }
    options.update(overrides)
    return options


class Profiler:
    """``py-spy record`` on a server while it delivers (only with ``--profile DIR``)."""

    def __init__(self, directory: Path | None) -> None:
        self.directory = directory
        self.process: asyncio.subprocess.Process | None = None

    async def start(self, pid: int, name: str) -> None:
        if self.directory is None:
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        py_spy = Path(sys.executable).with_name("py-spy")
        out = self.directory / f"{name.replace('+', '_').replace('.', '_')}.txt"
        self.process = await asyncio.create_subprocess_exec(
            str(py_spy if py_spy.exists() else "py-spy"),
            *("record", "--pid", str(pid), "--format", "raw", "--rate", "250", "--nonblocking"),
            *("--output", str(out)),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        await asyncio.sleep(0.5)  # attached

    async def stop(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGINT)
            await self.process.wait()
            self.process = None


async def fanout(
    variants: list[str],
    subscribers: int,
    events: int,
    rounds: int,
    args: argparse.Namespace,
    data_dir: str,
    together: bool,
) -> list[dict[str, Any]]:
    """Memory per feed, then ``rounds`` delivery bursts per variant.

    With ``together``, every variant's server is up with its feeds open at once and the
    bursts go round-robin (plain, fastapi.sse, streamverse, ... then again, in a rotated
    order), so a change in background load hits every variant alike. Otherwise one variant
    at a time (when all feeds at once would not fit in the file descriptor limit).
    """
    targets: list[Target] = []
    profiler = Profiler(args.profile)

    def events_for(variant: str) -> int:
        """fastapi.sse is several times slower: a quarter of the events keeps its bursts short."""
        if variant == "fastapi.sse" and args.fastapi_events is not None:
            return args.fastapi_events
        return max(1, events // 4) if variant == "fastapi.sse" else events

    async def start(variant: str) -> Target:
        server = ServerProcess(serve, variant, server_options(args, data_dir))
        target = Target(variant, server)
        target.gc_freeze = args.gc_freeze
        targets.append(target)
        await target.prepare()
        await target.open_measured(subscribers, warmup=50, yield_every=args.yield_every)
        return target

    async def burst(target: Target) -> None:
        assert target.pool is not None
        await profiler.start(target.server.pid, f"{target.variant}-{subscribers}")
        try:
            run = await target.deliver(target.pool, events_for(target.variant), args.yield_every)
        finally:
            await profiler.stop()
        target.runs.append(run)
        print(
            f"  {target.variant} x{subscribers:,}: {run['deliveries_per_s']:,}/s, "
            f"{run['server_cpu_us_per_delivery']} us CPU/delivery",
            file=sys.stderr,
        )

    async def finish(target: Target) -> None:
        if target.pool is not None:
            target.note_rss_after()
            await target.pool.close()
        target.server.stop()

    try:
        if together:
            for variant in variants:
                await start(variant)
            for round_ in range(rounds):
                shift = round_ % len(targets)
                for target in targets[shift:] + targets[:shift]:
                    await burst(target)
            for target in targets:
                await finish(target)
        else:
            for variant in variants:
                target = await start(variant)
                for _ in range(rounds):
                    await burst(target)
                await finish(target)
    finally:
        for target in targets:
            if target.pool is not None:
                with contextlib.suppress(Exception):
                    await target.pool.close()
            target.server.stop()
    rows = [target.summary(subscribers) for target in targets]
    plain = next((row for row in rows if row["variant"] == "plain"), None)
    for row in rows:
        if plain and plain["best_deliveries_per_s"]:
            row["vs_plain_best"] = round(
                row["best_deliveries_per_s"] / plain["best_deliveries_per_s"], 2
            )
            row["vs_plain_median"] = round(
                row["median_deliveries_per_s"] / plain["median_deliveries_per_s"], 2
            )
        cost, plain_cost = (
            row["median_server_cpu_us_per_delivery"],
            (plain or {}).get("median_server_cpu_us_per_delivery"),
        )
        if cost and plain_cost:
            row["vs_plain_cpu"] = round(plain_cost / cost, 2)
    return rows


async def measure_shutdown(
    variant: str,
    hook: bool,
    connections: int,
    graceful: float,
    args: argparse.Namespace,
    data_dir: str,
) -> dict[str, Any]:
    """SIGTERM with ``connections`` open feeds: until every client saw EOF / the process ended."""
    # The baseline's "Cancel N running task(s)" error is the expected outcome: keep it quiet.
    quiet = {} if hook else {"log_level": "critical"}
    options = server_options(args, data_dir, hook=hook, graceful=graceful, **quiet)
    server = ServerProcess(serve, variant, options)
    pool: SSEPool | None = None
    try:
        target = Target(variant, server)
        await target.prepare()
        pool = await target.open(connections)
        await target.deliver(pool, 3, args.yield_every)  # streams are mid-flight
        loop = asyncio.get_running_loop()
        started = time.monotonic()

        def exit_time() -> float | None:
            return time.monotonic() - started if server.wait_exit(60) else None

        exited = loop.run_in_executor(None, exit_time)
        server.signal(signal.SIGTERM)
        all_closed = await pool.wait_closed(60)
        clients = pool.last_closed_at - started if all_closed else None
        process = await exited
        return {
            "variant": variant,
            "server": "streamverse.server.Server" if hook else "uvicorn.Server",
            "connections": connections,
            "timeout_graceful_shutdown": graceful,
            "all_clients_closed_s": None if clients is None else round(clients, 3),
            "process_exit_s": None if process is None else round(process, 3),
            "still_open": connections - pool.n_closed,
        }
    finally:
        if pool is not None:
            await pool.close()
        server.stop()


def subscriber_breakdown(conn: Connection, count: int) -> None:
    """Child process: tracemalloc bytes per subscriber without HTTP, layer by layer."""
    try:
        send_safely(conn, ("ready", 0))
        send_safely(conn, ("result", asyncio.run(_breakdown(count))))
    except BaseException as error:
        send_safely(conn, ("error", f"{type(error).__name__}: {error}"))
        raise


async def _breakdown(count: int) -> dict[str, float]:
    from streamverse.broker import Broker
    from streamverse.presence import Presence

    async def per_subscriber(setup: Callable[[], Any]) -> float:
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
    await broker.publish("bench", "tick", payload(0))

    async def subscriptions_only() -> list[Any]:
        keep: list[Any] = []
        for _ in range(count):
            context = broker.subscribe("bench")
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
                async with broker.subscribe("bench") as subscription:
                    body = sse.event_stream(
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
    child = ServerProcess(subscriber_breakdown, count)
    try:
        kind, value = await asyncio.to_thread(child.receive, 300)
        if kind != "result":
            raise RuntimeError(value)
        return value  # type: ignore[no-any-return]
    finally:
        child.stop()


async def measure_trace(
    variant: str, connections: int, args: argparse.Namespace, data_dir: str
) -> dict[str, Any]:
    """tracemalloc in the server: Python allocations per open feed, by source file and line."""
    options = server_options(args, data_dir, tracemalloc=True)
    with ServerProcess(serve, variant, options) as server:
        target = Target(variant, server)
        await target.prepare()
        warm = await target.open(20)
        await target.deliver(warm, 3, args.yield_every)
        await warm.close()
        await target.wait_subscribers(0)
        await http_json(server.port, "POST", "/bench/trace/mark")
        pool = await target.open(connections)
        await asyncio.sleep(0.5)
        try:
            _, diff = await http_json(server.port, "GET", "/bench/trace/diff?top=15", within=120)
        finally:
            await pool.close()

    def per(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{**row, "bytes_per_connection": round(row["bytes"] / connections)} for row in rows]

    return {
        "variant": variant,
        "connections": connections,
        "traced_bytes_per_connection": round(diff["total"] / connections),
        "by_file": per(diff["filename"]),
        "by_line": per(diff["lineno"]),
    }


# == report ====================================================================================


def print_table(title: str, rows: list[dict[str, Any]]) -> None:
    print(f"\n{title}")
    header = (
        f"{'variant':<22}{'events':>7}{'best/s':>9}{'median/s':>10}{'vs plain':>9}"
        f"{'CPU us/dlv':>11}{'vs plain':>9}{'KiB/conn':>10}{'after':>7}  notes"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        notes = []
        if not row["complete"]:
            dropped = sum(run["dropped"] for run in row["runs"])
            closed = sum(run["closed_early"] for run in row["runs"])
            notes.append(f"INCOMPLETE (dropped {dropped}, closed {closed})")
        short = [r for r in row["runs"] if r["frames_received"] < r["frames_expected"]]
        extra = sum(r["frames_received"] - r["frames_expected"] for r in row["runs"])
        if short:
            notes.append("frames missing")
        elif extra:
            notes.append(f"+{extra} other frames")
        shares = [run["server_cpu_share"] or 0 for run in row["runs"]]
        notes.append(f"server got {min(shares):.0%}-{max(shares):.0%} of its core")
        cpu = sum(run["server_cpu_seconds"] for run in row["runs"])
        if cpu:
            gc_share = sum(run["gc_seconds"] for run in row["runs"]) / cpu
            notes.append(f"GC {gc_share:.0%} of its CPU")
        ratio = f"{row['vs_plain_best']:.2f}x" if "vs_plain_best" in row else "-"
        cpu_ratio = f"{row['vs_plain_cpu']:.2f}x" if "vs_plain_cpu" in row else "-"
        print(
            f"{row['variant']:<22}{row['events']:>7}{row['best_deliveries_per_s']:>9,}"
            f"{row['median_deliveries_per_s']:>10,}{ratio:>9}"
            f"{row['median_server_cpu_us_per_delivery'] or 0:>11.2f}{cpu_ratio:>9}"
            f"{row['kib_per_connection']:>10.1f}{row.get('kib_per_connection_after', 0):>7.1f}"
            f"  {'; '.join(notes)}"
        )


def print_shutdown(rows: list[dict[str, Any]]) -> None:
    print("\nShutdown (SIGTERM) with open SSE feeds")
    for row in rows:
        print(
            f"  {row['variant']:<12} on {row['server']:<26} {row['connections']:>6,} feeds: "
            f"all closed after {row['all_clients_closed_s']} s, "
            f"process gone after {row['process_exit_s']} s "
            f"(timeout_graceful_shutdown={row['timeout_graceful_shutdown']} s)"
        )


def print_breakdown(breakdown: dict[str, float], count: int) -> None:
    print(f"\nPython memory per subscriber without HTTP (tracemalloc, {count:,} subscribers)")
    for name, size in breakdown.items():
        print(f"  {name:<50}{size / 1024:>7.2f} KiB")


def print_trace(trace: dict[str, Any]) -> None:
    print(
        f"\nPython allocations per open {trace['variant']} feed in the server (tracemalloc, "
        f"{trace['connections']:,} feeds): {trace['traced_bytes_per_connection'] / 1024:.2f} KiB"
    )
    for row in trace["by_file"][:10]:
        print(f"  {row['bytes_per_connection']:>7,} B  {row['where']}")


# == main ======================================================================================


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--subscribers", type=int, default=1000, help="feeds per variant")
    parser.add_argument("--events", type=int, default=100, help="events per delivery burst")
    parser.add_argument("--rounds", type=int, default=3, help="delivery bursts per variant")
    parser.add_argument(
        "--fastapi-events", type=int, default=None, help="events per fastapi.sse burst (events/4)"
    )
    parser.add_argument(
        "--yield-every", type=int, default=1, help="publisher yields to the loop every K events"
    )
    parser.add_argument(
        "--big", type=int, default=10_000, help="subscribers in the large phase (0 skips it)"
    )
    parser.add_argument("--big-events", type=int, default=20, help="events per large burst")
    parser.add_argument(
        "--variants",
        default=",".join(VARIANTS),
        help=f"comma-separated, from {VARIANTS}",
    )
    parser.add_argument("--shutdown-connections", type=int, default=1000)
    parser.add_argument("--uvloop", action="store_true", help="serve on uvloop, not asyncio")
    parser.add_argument("--no-trace", action="store_true", help="skip the tracemalloc phase")
    parser.add_argument(
        "--profile", type=Path, default=None, help="py-spy raw profiles of each burst go here"
    )
    parser.add_argument(
        "--gc-threshold",
        type=lambda text: tuple(int(part) for part in text.split(",")),
        default=None,
        help="experiment: gc.set_threshold(a,b,c) in the servers, e.g. 50000,20,100",
    )
    parser.add_argument(
        "--gc-freeze", action="store_true", help="experiment: gc.freeze() once the feeds are open"
    )
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    parser.add_argument("--json", type=Path, default=RESULTS, help="where to write the results")
    args = parser.parse_args(argv)
    args.graceful_baseline = GRACEFUL_TIMEOUT
    if args.quick:
        args.subscribers, args.events, args.rounds = 100, 30, 1
        args.big, args.big_events = 300, 5
        args.shutdown_connections = 100
        args.graceful_baseline = 1.0
        args.no_trace = True
    args.variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = set(args.variants) - set(VARIANTS)
    if unknown:
        parser.error(f"unknown variants: {sorted(unknown)}")
    return args


async def run(args: argparse.Namespace) -> dict[str, Any]:
    nofile = raise_nofile()
    results: dict[str, Any] = {
        "settings": {
            "subscribers": args.subscribers,
            "events": args.events,
            "rounds": args.rounds,
            "yield_every": args.yield_every,
            "big": args.big,
            "big_events": args.big_events,
            "server": "uvicorn (httptools), " + ("uvloop" if args.uvloop else "asyncio loop"),
            "cpus": args.cpu_count,
            "cpu_plan": {"server": args.cpus[0], "client": args.cpus[1]},
            "nofile": nofile,
            "python": sys.version.split()[0],
        }
    }
    with tempfile.TemporaryDirectory(prefix="sse-bench-") as data_dir:
        together = len(args.variants) * args.subscribers + 500 < nofile
        rows = await fanout(
            args.variants, args.subscribers, args.events, args.rounds, args, data_dir, together
        )
        results["fanout"] = rows
        print_table(f"Fan-out to {args.subscribers:,} subscribers", rows)

        if args.big:
            if args.big + 500 > nofile:
                print(f"\nskipping {args.big:,} subscribers: open-file limit is {nofile}")
                results["big"] = {"skipped": f"RLIMIT_NOFILE {nofile}"}
            else:
                big = [v for v in args.variants if v in ("plain", "streamverse")]
                big_rows = await fanout(
                    big, args.big, args.big_events, 1, args, data_dir, together=False
                )
                results["big"] = big_rows
                print_table(f"Fan-out to {args.big:,} subscribers", big_rows)

        count = max(args.big, args.subscribers)
        results["breakdown"] = await measure_breakdown(count)
        print_breakdown(results["breakdown"], count)

        if not args.no_trace and "streamverse" in args.variants:
            results["trace"] = await measure_trace(
                "streamverse", min(args.subscribers, 1000), args, data_dir
            )
            print_trace(results["trace"])

        n = args.shutdown_connections
        shutdown = [
            await measure_shutdown("streamverse", True, n, GRACEFUL_TIMEOUT, args, data_dir),
            await measure_shutdown("plain", False, n, args.graceful_baseline, args, data_dir),
        ]
        results["shutdown"] = shutdown
        print_shutdown(shutdown)
    return results


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.cpu_count = len(os.sched_getaffinity(0))
    args.cpus = cpu_plan()  # before pinning this process, which narrows its own affinity
    pin(args.cpus[1])
    started = time.monotonic()
    loop = new_event_loop()
    try:
        results = loop.run_until_complete(run(args))
    finally:
        loop.close()
    results["wall_seconds"] = round(time.monotonic() - started, 1)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nTotal {results['wall_seconds']} s; results in {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
