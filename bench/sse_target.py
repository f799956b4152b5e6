"""One running server variant, seen from the client: its feed, its memory, its bursts.

The memory per connection, the delivery rate and the CPU per delivery are all measured
here, on one ``Target`` per server process, so every variant is measured by the same code
in the same order: warm up, read RSS, open the feeds, read RSS again, then time bursts
until every connection has seen the last event while reading the server's CPU time.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _http import http_json
from _procs import ServerProcess, cpu_seconds, rss_kib
from _sse_client import SSEPool
from sse_servers import GRACEFUL_TIMEOUT, WATCHED

from streamverse.analytics.feeds import STREAM_ANALYTICS


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
        feed = STREAM_ANALYTICS if self.variant == "streamverse" else WATCHED
        self.path = feed.path.format(stream_id=stream_id)
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
    """What ``sse_servers.serve`` needs, from the command line; every server gets the same."""
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
