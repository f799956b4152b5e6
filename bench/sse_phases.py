"""The phases of the SSE benchmark that run servers: fan-out, tracemalloc, shutdown.

Each phase starts its own servers (fresh processes, fresh databases) so no phase inherits
another's heap, and each returns plain dicts: ``bench_sse_fanout.py`` writes them to JSON
and ``sse_report`` prints them. The fan-out phase keeps every variant's feeds open at once
and goes round-robin, so background load on a shared machine hits every variant alike.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
import time
from typing import Any

from _http import http_json
from _procs import ServerProcess
from _sse_client import SSEPool
from sse_servers import serve
from sse_target import Profiler, Target, server_options


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
            return int(args.fastapi_events)
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
    return versus_plain([target.summary(subscribers) for target in targets])


def versus_plain(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Add each row's ratios to ``plain`` (rate: this / plain; CPU cost: plain / this)."""
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
