"""SSE fan-out: deliveries per second, memory per subscriber and shutdown time.

Four servers, each a small FastAPI app on real uvicorn (httptools, asyncio loop, as
``streamverse serve`` runs) in its own process pinned to one core, driven by raw asyncio TCP
clients in this process on the other core:

* ``plain``: a per-connection ``asyncio.Queue``; ``StreamingResponse`` yields
  ``id/event/data`` text per event (the payload is serialised once per event).
* ``fastapi.sse``: the same queue loop, the path function yields ``ServerSentEvent(data=...)``
  under ``response_class=EventSourceResponse``.
* ``streamverse``: the real ``create_app()`` and its feed ``/streams/{id}/analytics/live``
  (answered by ``streamverse.sse.feeds.FeedMiddleware``: broker subscription, ids, history,
  keep-alive timer, snapshot), fed by ``broker.publish`` on the stream's analytics topic.
* ``streamverse+presence``: the same feed on a path of the bench's, joined to
  ``Presence.watching`` while open (what a feed that counts its viewers costs; the
  analytics feed itself does not count them).

This script is the entry point (``make bench`` runs every ``bench/bench_*.py``): options,
the order of the phases, the JSON file. The rest lives in ``sse_servers`` (the variants and
their process), ``sse_probes`` (instruments inside the servers), ``sse_target`` (one variant
seen from the client: memory, bursts, CPU), ``sse_phases`` and ``sse_breakdown`` (the
phases), ``sse_report`` (the tables) and ``_common`` (processes and raw clients).
See bench/README.md for what each figure means. Run: ``python bench/bench_sse_fanout.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import cpu_plan, new_event_loop, pin, raise_nofile
from sse_breakdown import measure_breakdown
from sse_phases import fanout, measure_shutdown, measure_trace
from sse_report import print_breakdown, print_shutdown, print_table, print_trace
from sse_servers import GRACEFUL_TIMEOUT, VARIANTS

RESULTS = Path(__file__).resolve().parent / "results" / "sse_fanout.json"


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
